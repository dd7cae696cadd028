"""Serve a WSGI app (``module:name``) on a pywsgi server with
wsframework's WebSocketHandler on a free port of 127.0.0.1 (with
``--plain``: pywsgi's own handler, which takes no upgrades)."""

from gevent import monkey

monkey.patch_all()

import importlib  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402

from gevent import pywsgi  # noqa: E402

from wsframework.wsgi import WebSocketHandler  # noqa: E402

logging.basicConfig(level=logging.INFO)
module, _, name = sys.argv[1].partition(":")
app = getattr(importlib.import_module(module), name)
handler = pywsgi.WSGIHandler if "--plain" in sys.argv else WebSocketHandler
server = pywsgi.WSGIServer(("127.0.0.1", 0), app, handler_class=handler)
server.init_socket()
print(f"Listening at: http://127.0.0.1:{server.server_port}", flush=True)
server.serve_forever()
