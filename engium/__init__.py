"""Engium project package: settings, URLs, the Celery app and shared API plumbing."""

from engium.celery import app as celery_app

__all__ = ["celery_app"]
