"""Upload handling: a media upload goes to a temporary file on disk, never into memory."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler

from engium.exceptions import PayloadTooLarge


class BoundedTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    """Django's temporary-file handler, refusing a file past ``ENGIUM_MEDIA_MAX_BYTES``.

    The request's ``Content-Length`` was already checked against the upload cap
    (`engium.middleware.ApiGuardMiddleware`); this bounds the file itself.
    """

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        self.received = 0
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > settings.ENGIUM_MEDIA_MAX_BYTES:
            raise PayloadTooLarge(
                f"The file is larger than {settings.ENGIUM_MEDIA_MAX_BYTES} bytes.", field="file"
            )
        return super().receive_data_chunk(raw_data, start)
