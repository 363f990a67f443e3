"""The product's settings plus one bare Django JSON view to measure the send endpoint against."""

from engium.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "ERROR"}}
