"""Media tests store into a fresh folder each (the file-system storage under a temporary root)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.conftest import TenantFixture


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root), "base_url": None},
        },
    }
    return root


def upload(
    tenant: TenantFixture,
    content: bytes,
    name: str = "file",
    content_type: str = "application/octet-stream",
    **fields: str,
) -> Any:
    """POST /api/v1/media as multipart/form-data (Django's client builds the body)."""
    return Client().post(
        "/api/v1/media",
        data={"file": SimpleUploadedFile(name, content, content_type=content_type), **fields},
        **tenant.headers(),
    )


def uploaded(tenant: TenantFixture, content: bytes, name: str = "file", **kwargs: Any) -> Any:
    response = upload(tenant, content, name, **kwargs)
    assert response.status_code == 201, response.content
    return response.json()


def media_path(url: str) -> str:
    """The path of a media URL on our public base (what the test client requests)."""
    assert url.startswith(settings.ENGIUM_PUBLIC_URL + "/media/"), url
    return url[len(settings.ENGIUM_PUBLIC_URL) :]
