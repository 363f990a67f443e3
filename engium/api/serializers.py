"""Serializer building blocks shared by every API."""

from __future__ import annotations

import threading
from typing import Any

from django.utils.functional import cached_property
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import BindingDict


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


_reused = threading.local()


class StrictSerializer(serializers.Serializer):
    """Refuses unknown fields, so a typo is an error rather than silently ignored.

    Its fields are made once per class and thread, not deep-copied for every instance as DRF
    does (about a third of a send's validation). That is safe for what these serializers
    are, request parsers: validating keeps no state on a field, no field is changed per
    instance, and the fields reach their root serializer only for its ``context`` and
    ``partial``, so an instance given either makes fields of its own, as in DRF.
    """

    @cached_property
    def fields(self) -> BindingDict:
        if self.partial or self._context or getattr(self, "parent", None) is not None:
            return self._make_fields()
        made: dict[type, BindingDict] | None = getattr(_reused, "fields", None)
        if made is None:
            made = _reused.fields = {}
        fields = made.get(type(self))
        if fields is None:
            fields = made[type(self)] = self._make_fields()
        return fields

    def _make_fields(self) -> BindingDict:
        fields = BindingDict(self)
        for name, field in self.get_fields().items():
            fields[name] = field
        return fields

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({unknown[0]: ["Unknown field."]})
        return super().to_internal_value(data)
