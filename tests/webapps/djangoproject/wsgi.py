import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.webapps.djangoproject.settings")

from wsframework.django import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
