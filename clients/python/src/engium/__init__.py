"""The Python SDK of the Engium conversations API.

    from engium import Engium

    client = Engium()  # ENGIUM_API_KEY, ENGIUM_TENANT_ID, ENGIUM_BASE_URL
    sent = client.conversations.send(recipient="+15550102999", channel="whatsapp", text="Hi")

The SDK imports only relatively inside its package, so that the Engium server's own test suite
can load it beside the server's ``engium`` package (see the repository's docs/architecture.md).
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import models, webhooks
from ._client import AsyncEngium, Engium
from ._pagination import AsyncPager, Page, Pager
from .errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    EngiumError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnsupportedMediaTypeError,
    ValidationError,
    WebhookVerificationError,
)

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AsyncEngium",
    "AsyncPager",
    "AuthenticationError",
    "ConflictError",
    "Engium",
    "EngiumError",
    "NotFoundError",
    "Page",
    "Pager",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "UnsupportedMediaTypeError",
    "ValidationError",
    "WebhookVerificationError",
    "__version__",
    "models",
    "webhooks",
]
