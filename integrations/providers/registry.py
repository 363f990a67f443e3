"""Providers by slug, from ``settings.ENGIUM_PROVIDERS`` (adding one is one module and one line)."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from integrations.providers.base import Provider


class UnknownProvider(LookupError):
    pass


@cache
def get_provider(slug: str) -> Provider:
    path = settings.ENGIUM_PROVIDERS.get(slug)
    if path is None:
        raise UnknownProvider(slug)
    provider: Provider = import_string(path)()
    return provider


def provider_slugs() -> list[str]:
    return sorted(settings.ENGIUM_PROVIDERS)
