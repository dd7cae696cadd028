"""Log lines an operator's tools can read: ``JsonFormatter`` writes one JSON
object per record (``python -m wsframework serve --log-format json``).

Each object has ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``
and ``pid``, then the connection fields a record carries, passed as
``extra`` by the library (``remote_address``, ``path``, ``close_code``,
``close_reason``) or by your own code, and ``exception`` with the
traceback when there is one.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone

__all__ = ["JsonFormatter", "CONNECTION_FIELDS"]

#: The ``extra`` fields copied into the object when a record has them.
CONNECTION_FIELDS = ("remote_address", "path", "close_code", "close_reason", "protocol",
                     "status", "worker")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, never more than one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc)
                            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process or os.getpid(),
        }
        for field in CONNECTION_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # ASCII only: U+2028 and the like would split a line for some readers.
        return json.dumps(entry, default=str)
