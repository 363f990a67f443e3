"""OpenAPI documentation shared by every API: authentication, the error envelope, list pages.

Documentation only: nothing here runs on a request. The serializers below describe what
`engium.api.errors` and `engium.api.pagination` produce; `tests/engium/test_openapi.py`
checks real answers against them. Imported by `engium.urls`, which registers the
authentication extension before any schema is generated.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from engium.ids import id_regex

# ------------------------------------------------------------------ authentication


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """``Authorization: Bearer <API key>`` and ``X-Tenant-ID``: both, on every request."""

    target_class = "tenants.authentication.ApiKeyAuthentication"
    name = ["ApiKey", "TenantId"]  # one requirement naming both: they are needed together

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key of the tenant, sent as `Authorization: Bearer <key>`.",
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-Tenant-ID",
                "description": "The ID of the tenant the API key belongs to.",
            },
        ]


# ------------------------------------------------------------------ request bodies


class StrictSerializerScheme(OpenApiSerializerExtension):
    """A `StrictSerializer` refuses unknown fields: its schema says `additionalProperties: false`.

    Without it, a body with an extra field is valid by the schema and refused by the API.
    """

    target_class = "engium.api.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = auto_schema._map_serializer(
            self.target, direction, bypass_extensions=True
        )
        schema["additionalProperties"] = False
        return schema


class BoundedDictFieldScheme(OpenApiSerializerFieldExtension):
    """A `BoundedDictField`: its entry limit (`maxProperties`) and, in words, its name limit
    (OpenAPI 3.0 has no `propertyNames`)."""

    target_class = "engium.api.serializers.BoundedDictField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = auto_schema._map_serializer_field(
            self.target, direction, bypass_extensions=True
        )
        schema["maxProperties"] = self.target.max_items
        limit = f"At most {self.target.max_items} entries, names of at most "
        limit += f"{self.target.max_key_length} characters."
        schema["description"] = " ".join(filter(None, [schema.get("description"), limit]))
        return schema


# ------------------------------------------------------------------ errors


class ErrorDetailSerializer(serializers.Serializer):
    field = serializers.CharField(
        required=False, help_text="Dotted path of the field, e.g. `message.text`."
    )
    message = serializers.CharField()
    code = serializers.CharField(required=False, help_text="e.g. `required`, `invalid`.")


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. `not_found`.")
    message = serializers.CharField(help_text="Human-readable explanation.")
    field = serializers.CharField(
        required=False, help_text="The request field at fault, where there is one."
    )
    details = ErrorDetailSerializer(
        many=True,
        required=False,
        help_text="The validation problems, at most 20 (validation errors only).",
    )
    details_total = serializers.IntegerField(
        required=False,
        help_text="How many problems there were, when `details` lists only the first 20.",
    )


class ErrorSerializer(serializers.Serializer):
    """Every error answer: `{"error": {"code", "message", "field"?, "details"?}}`."""

    error = ErrorBodySerializer()


ERROR_DESCRIPTIONS = {
    400: "The request is not valid (`validation_error`).",
    401: (
        "The API key or the tenant ID is missing or invalid, or the key does not belong to "
        "the tenant (`authentication_failed`)."
    ),
    403: "The tenant is suspended (`tenant_suspended`).",
    404: "No such resource in this tenant (`not_found`).",
    409: (
        "The Idempotency-Key was used with another body, or its first request is still "
        "being processed (`idempotency_conflict`)."
    ),
    413: "The request body is larger than 1 MiB (`payload_too_large`).",
    415: "The request body is not `application/json` (`unsupported_media_type`).",
    429: (
        "The tenant's sends in the last 60 s reached its limit (`rate_limited`); "
        "`Retry-After` says in how many seconds a send will be accepted."
    ),
}

#: A body that cannot be read as JSON, on every endpoint that takes one.
MALFORMED_BODY = "the body is not valid JSON (`malformed_json`)"


def error_responses(*statuses: int, **descriptions: str) -> dict[int, OpenApiResponse]:
    """The documented error answers of an operation; ``e400="…"`` overrides a description."""
    return {
        status: OpenApiResponse(
            ErrorSerializer, description=descriptions.get(f"e{status}", ERROR_DESCRIPTIONS[status])
        )
        for status in sorted(statuses)
    }


#: Errors of every authenticated operation.
AUTH_ERRORS = (401, 403)
#: Errors of every operation that reads a JSON body.
BODY_ERRORS = (400, 401, 403, 413, 415)


# ------------------------------------------------------------------ lists


def page_serializer(name: str, item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The list answer of `engium.api.pagination.paginate`, as component ``name``."""
    return type(
        f"{name}Serializer",
        (serializers.Serializer,),
        {
            "__doc__": "One page of a list, newest first.",
            "__module__": item.__module__,
            "data": item(many=True),
            "has_more": serializers.BooleanField(help_text="Whether older items follow."),
            "next_cursor": serializers.CharField(
                allow_null=True,
                help_text="Pass as `cursor` for the next page; null on the last page.",
            ),
        },
    )


def id_path_parameter(name: str, prefix: str, what: str) -> OpenApiParameter:
    """A resource ID in the path: ``<prefix>_`` and 26 lower-case Crockford base32 characters."""
    return OpenApiParameter(
        name,
        str,
        OpenApiParameter.PATH,
        required=True,
        description=f"The {what}'s ID (`{prefix}_…`).",
        pattern=f"^{id_regex(prefix)}$",
    )
