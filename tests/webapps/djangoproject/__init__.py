"""A minimal Django project (sessions, auth on SQLite) with a WebSocket
view, for tests/integrations/test_django.py.  The database file is WSF_DJANGO_DB."""
