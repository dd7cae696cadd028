"""The demo chat server: rooms, nicknames, history, a web page, one port.

Run it with ``python -m wsframework serve``; see :mod:`wsframework.apps.chat.app`
for the server and :mod:`wsframework.apps.chat.service` for the protocol.
"""

from .app import ChatServer, make_server
from .service import ChatService

__all__ = ["ChatServer", "ChatService", "make_server"]
