"""Serializer building blocks shared by every API."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from django.core.validators import RegexValidator
from django.utils.functional import cached_property
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import BindingDict

from engium.patterns import NOT_ONLY_WHITESPACE, PHONE_SHAPE


# Documented as what its users (`recipient`, `from`) take: anything else is a 400.
@extend_schema_field(
    {
        "type": "string",
        "description": (
            "A phone number in E.164 format: `+`, country code and number; spaces, dashes, "
            "dots and parentheses are tolerated."
        ),
        "pattern": PHONE_SHAPE,
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
    """Text given as a JSON string only (DRF's field would turn 0 or 1.5 into "0", "1.5").

    A field that trims white space and refuses blanks refuses text of white space only
    (trimmed, it is blank): its schema says so with the `NOT_ONLY_WHITESPACE` pattern, unless
    a `RegexValidator` of its own (which then says at least as much) is given. Its
    `max_length` counts the text as sent, as the schema's `maxLength` does, not as trimmed.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        patterned = any(isinstance(v, RegexValidator) for v in self.validators)
        if self.trim_whitespace and not self.allow_blank and not patterned:
            # Never fails on a trimmed, non-blank value: it documents the blank check.
            self.validators.append(RegexValidator(NOT_ONLY_WHITESPACE))

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid")
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON `true` or `false` only (DRF's field would take 0, 1, "yes" or "off")."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


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


class ClampedDateTimeField(serializers.DateTimeField):
    """Any ISO 8601 time, as a bound of a time range.

    One that is valid but beyond what Python holds in UTC (``0001-01-01T00:00:00+01:00``,
    ``9999-12-31T23:59:59-01:00``) is taken as the earliest or the latest time there is,
    which selects the same rows, instead of DRF's "Datetime value out of range".
    """

    def enforce_timezone(self, value: datetime) -> datetime:
        try:
            return super().enforce_timezone(value)
        except serializers.ValidationError:
            if value.utcoffset() is None:
                raise
            edge = datetime.min if value.year == datetime.min.year else datetime.max
            return edge.replace(tzinfo=UTC)
