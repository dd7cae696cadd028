"""A Flask app in the app-factory pattern for tests/integrations/test_flask_sock.py: a
blueprint with a WebSocket route, bound by ``sock.init_app(app)``; the
handler reads Flask's ``session`` and ``g``."""

from flask import Blueprint, Flask, abort, g, request, session

from wsframework.flask import Sock

sock = Sock()
rooms = Blueprint("rooms", __name__, url_prefix="/rooms")


@rooms.route("/")
def index():
    return "rooms page"


@sock.route("/<name>", bp=rooms)
def room(connection, name):
    for message in connection:
        connection.send(f"{name} {session.get('user', 'anonymous')} {g.tag}: {message.data}")


@sock.route("/echo")
def echo(connection):
    for message in connection:
        connection.send(message.data)


def create_app():
    app = Flask(__name__)
    app.secret_key = "tests only"

    @app.before_request
    def tag():
        if request.args.get("banned"):
            abort(403, "banned")
        g.tag = "tagged"

    @app.route("/login/<user>")
    def login(user):
        session["user"] = user
        return "logged in"

    app.register_blueprint(rooms)
    sock.init_app(app)
    return app
