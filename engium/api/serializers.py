"""Serializer building blocks shared by every API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


# Documented as what its users (`recipient`, `from`) take: anything else is a 400.
@extend_schema_field(
    {
        "type": "string",
        "description": (
            "A phone number in E.164 format: `+`, country code and number; spaces, dashes, "
            "dots and parentheses are tolerated."
        ),
        "pattern": r"^[\s\-.()]*\+[0-9\s\-.()]+$",
        "example": "+15550102999",
    }
)
class PassThroughField(serializers.Field):
    """Any JSON value, unchanged; the service checks its type (no re-encoding on the way)."""

    def to_internal_value(self, data: Any) -> Any:
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class StrictCharField(serializers.CharField):
    """Text given as a JSON string only (DRF's field would turn 0 or 1.5 into "0", "1.5")."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """A UUID given as a string only (DRF's field would take 123 or true as integers)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class BoundedDictField(serializers.DictField):
    """A JSON object of at most ``max_items`` entries, with keys of at most ``max_key_length``.

    The size is checked before any value is validated: an oversized object costs one
    comparison and one error, not one validation and one error per entry.
    """

    def __init__(self, *, max_items: int, max_key_length: int = 64, **kwargs: Any) -> None:
        self.max_items = max_items
        self.max_key_length = max_key_length
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            if len(data) > self.max_items:
                raise serializers.ValidationError(
                    f"At most {self.max_items} entries are allowed; {len(data)} were given."
                )
            if any(len(str(key)) > self.max_key_length for key in data):
                raise serializers.ValidationError(
                    f"Names are at most {self.max_key_length} characters long."
                )
        return super().to_internal_value(data)


class StrictSerializer(serializers.Serializer):
    """Refuses unknown fields, so a typo is an error rather than silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({unknown[0]: ["Unknown field."]})
        return super().to_internal_value(data)
