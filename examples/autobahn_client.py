"""The Autobahn|Testsuite client loop, written with ``wsframework.connect``.

Run by ``scripts/autobahn/run-client-suite.sh`` (``scripts/autobahn.sh``
calls it), which sets ``AUTOBAHN_URL`` and ``AUTOBAHN_AGENT``: it asks for
the case count, echoes every message of each case, then asks the suite to
write its reports.
"""

import os

from gevent import monkey

monkey.patch_all()

from wsframework import WebSocketError, connect  # noqa: E402

URL = os.environ.get("AUTOBAHN_URL", "ws://127.0.0.1:9001")
AGENT = os.environ.get("AUTOBAHN_AGENT", "wsframework")
LIMITS = {"max_received_frame_size": 1 << 24, "max_received_message_size": 1 << 24}


def run_case(number: int) -> None:
    try:
        connection = connect(f"{URL}/runCase?case={number}&agent={AGENT}", **LIMITS)
    except (WebSocketError, OSError):
        return
    for message in connection:
        try:
            connection.send(message.data)
        except WebSocketError:
            break
    connection.wait_closed()


def main() -> None:
    connection = connect(f"{URL}/getCaseCount")
    count = int(connection.receive().data)
    connection.wait_closed()
    print(f"{count} cases", flush=True)
    for number in range(1, count + 1):
        run_case(number)
    connection = connect(f"{URL}/updateReports?agent={AGENT}", open_timeout=60)
    connection.wait_closed()


if __name__ == "__main__":
    main()
