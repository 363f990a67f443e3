"""Cursor pagination over time-ordered IDs, newest first.

``?limit=`` (1–100, default 20) and ``?cursor=`` (the ``next_cursor`` of the previous page).
Answers ``{"data": [...], "has_more": bool, "next_cursor": str | null}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers

from engium.api.serializers import ClampedDateTimeField
from engium.ids import id_regex, is_valid_id

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class RefusesEmptyParameters(serializers.Serializer):
    """A query parameter given empty (``?status=``) is refused, as its schema says (an enum,
    a pattern or ``minLength: 1``), rather than read as absent."""

    def to_internal_value(self, data: Any) -> Any:
        # DRF reads an empty form value of an optional field as "not given".
        blank = sorted(str(name) for name in self.fields if data.get(name) == "")
        if blank:
            raise serializers.ValidationError(
                {name: ["This parameter may not be empty."] for name in blank}
            )
        return super().to_internal_value(data)


class ListQuerySerializer(RefusesEmptyParameters):
    """Query parameters every list endpoint accepts; resources add their filters
    (none of them may be given empty)."""

    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)
    cursor = serializers.RegexField(
        # `\Z` (written `$` in the schema): `$` also matches before a final line break.
        rf"^{id_regex()}\Z",
        required=False,
        trim_whitespace=False,
        help_text="The `next_cursor` of the previous page.",
    )
    created_after = ClampedDateTimeField(required=False)
    created_before = ClampedDateTimeField(required=False)

    #: ID prefix of the listed resource, for cursor validation
    id_prefix = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.id_prefix:
            # The documented pattern names this list's prefix: a cursor of another list
            # fails the schema, not only the validation.
            cls._declared_fields = {
                **cls._declared_fields,
                "cursor": serializers.RegexField(
                    rf"^{id_regex(cls.id_prefix)}\Z",
                    required=False,
                    trim_whitespace=False,
                    help_text="The `next_cursor` of the previous page.",
                ),
            }

    def validate_cursor(self, value: str) -> str:
        if not is_valid_id(value, self.id_prefix):
            raise serializers.ValidationError("Not a cursor from this list.")
        return value


def paginate(
    queryset: QuerySet[Any],
    query: dict[str, Any],
    render: Callable[[list[Any]], list[Any]],
    *,
    key: str = "pk",
) -> dict[str, Any]:
    """One page of ``queryset`` (ordered by descending ``key``, a public ID) as the list answer.

    ``key`` is the field holding the time-ordered public ID: the primary key, or for rows
    known by another object's ID (a webhook delivery by its event's), that field.
    """
    if query.get("created_after"):
        queryset = queryset.filter(created_at__gte=query["created_after"])
    if query.get("created_before"):
        queryset = queryset.filter(created_at__lt=query["created_before"])
    if query.get("cursor"):
        queryset = queryset.filter(**{f"{key}__lt": query["cursor"]})
    limit = query["limit"]
    rows = list(queryset.order_by(f"-{key}")[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    return {
        "data": render(rows),
        "has_more": has_more,
        "next_cursor": getattr(rows[-1], key) if has_more and rows else None,
    }
