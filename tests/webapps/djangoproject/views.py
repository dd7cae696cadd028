from django.contrib.auth import authenticate, login
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt

from wsframework.django import websocket_view


def index(request):
    return HttpResponse("django page")


@csrf_exempt
def log_in(request):
    user = authenticate(request, username=request.POST["username"],
                        password=request.POST["password"])
    if user is None:
        return HttpResponseForbidden("bad credentials")
    login(request, user)
    return HttpResponse("logged in")


@websocket_view
def room(request, websocket, name):
    if not request.user.is_authenticated:
        return HttpResponseForbidden("Log in first.")
    connection = websocket.accept()
    for message in connection:
        connection.send(f"{name} {request.user.username}: {message.data}")
