"""A Flask app that serves a page and a WebSocket on one port.

    pip install wsframework[flask]
    python examples/flask_chat.py [PORT]

Open http://127.0.0.1:PORT/ in two browser tabs and type: every message
goes to everyone connected.
"""

import sys

from gevent import monkey

monkey.patch_all()

from flask import Flask  # noqa: E402

from wsframework.flask import Sock  # noqa: E402

PAGE = """<!doctype html>
<title>flask chat</title>
<ul id="log"></ul>
<form id="f"><input id="text" autocomplete="off" autofocus><button>send</button></form>
<script>
const ws = new WebSocket(`ws://${location.host}/chat`);
ws.onmessage = (event) => {
  const item = document.createElement("li");
  item.textContent = event.data;
  document.getElementById("log").append(item);
};
document.getElementById("f").onsubmit = (event) => {
  event.preventDefault();
  const input = document.getElementById("text");
  ws.send(input.value);
  input.value = "";
};
</script>
"""

app = Flask(__name__)
sock = Sock(app)


@app.route("/")
def index():
    return PAGE


@sock.route("/chat")
def chat(connection):
    for message in connection:
        sock.server.broadcast(message.data)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    server = sock.make_server(("127.0.0.1", port))
    print(f"open http://127.0.0.1:{server.server_port}/", flush=True)
    server.serve_forever()
