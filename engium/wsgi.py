"""WSGI entry point (`gunicorn engium.wsgi`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engium.settings")

application = get_wsgi_application()
