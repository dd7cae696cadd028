"""WSGI, gunicorn, Django and Flask."""
