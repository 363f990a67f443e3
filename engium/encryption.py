"""Encryption at rest for secrets (integration credentials), with Fernet from `cryptography`.

``ENGIUM_ENCRYPTION_KEY`` holds one or more comma-separated Fernet keys: the first encrypts,
every one decrypts, so a key is rotated by putting the new one first.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.db import models


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt_text(value: str) -> str:
    return _fernet(tuple(settings.ENGIUM_ENCRYPTION_KEYS)).encrypt(value.encode()).decode()


def decrypt_text(token: str) -> str:
    return _fernet(tuple(settings.ENGIUM_ENCRYPTION_KEYS)).decrypt(token.encode()).decode()


class EncryptedJSONField(models.TextField):
    """A JSON object stored as a Fernet token: nothing readable at rest, nothing queryable."""

    description = "JSON, encrypted at rest"
    # For django-stubs: the Python value is any JSON value, not a str.
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return json.loads(decrypt_text(value))

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(decrypt_text(value))
            except Exception:  # a plain JSON string typed into a form
                return json.loads(value)
        return value

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return encrypt_text(json.dumps(value, sort_keys=True))

    def value_to_string(self, obj: models.Model) -> str:
        return json.dumps(self.value_from_object(obj))
