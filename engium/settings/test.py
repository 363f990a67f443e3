"""Settings of the test suite (pytest's DJANGO_SETTINGS_MODULE): the product's, for
``ENGIUM_ENV=test`` (their default under this module), with what only tests want on top.

The processes the end-to-end tests start inherit this module and environment.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from engium.settings import *  # noqa: F403
from engium.settings import CACHES, ENGIUM_ENV, env

if ENGIUM_ENV != "test":
    raise ImproperlyConfigured(
        f"engium.settings.test runs with ENGIUM_ENV=test, not {ENGIUM_ENV!r}"
    )

# MD5 hashes a password in microseconds; PBKDF2 takes a good part of a second per password.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tests empty the cache before each test: never the keys of a `make run` sharing the Redis.
CACHES = {
    "default": {
        **CACHES["default"],
        "KEY_PREFIX": env.str("ENGIUM_CACHE_PREFIX", default="engium-test"),
    }
}
