"""Create the tables and the user alice (password "secret")."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.webapps.djangoproject.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0)
User.objects.create_user("alice", password="secret")
