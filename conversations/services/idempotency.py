"""Idempotency-Key: a send repeated with the same key and body creates nothing new.

Kept per tenant (in its schema) for `KEEP`. The contract (docs/api.md#idempotency):

* the same key and the same body answer the first answer again (same status and body);
* the same key and another body answer ``409 idempotency_conflict``;
* requests with one key made at the same time create exactly one message: the first claims
  the key in its transaction, and the others wait on the key's row until it commits, then
  answer its stored answer;
* a send that fails (any 4xx) keeps nothing: its transaction, claim included, is rolled
  back, so the client may correct it and retry with the same key.

"The same body" means the same JSON value: key order and white space do not matter.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from conversations.models import IdempotencyKey
from engium.exceptions import IdempotencyConflict, ValidationFailed

KEEP = timedelta(hours=24)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def check_key(key: str) -> str:
    """The header's value, or a 400 if it cannot be a key."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise ValidationFailed(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            field="Idempotency-Key",
        )
    return key


def fingerprint(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def find_answer(key: str, request_hash: str) -> Answer | None:
    """The stored answer for this key, if it has one; `IdempotencyConflict` for another body."""
    row = IdempotencyKey.objects.filter(key=key, created_at__gte=timezone.now() - KEEP).first()
    if row is None:
        return None
    return _answer_of(row, request_hash)


def answer_once(key: str, request_hash: str, make: Callable[[], Answer]) -> Answer:
    """Run ``make`` (the send) once for ``key``: or the stored answer when it already ran.

    ``make`` runs inside the transaction that claims the key, so the send and its claim
    commit together, or neither does.
    """
    with transaction.atomic():
        if not _claim(key, request_hash):
            row = IdempotencyKey.objects.get(key=key)
            return _answer_of(row, request_hash)
        answer = make()
        IdempotencyKey.objects.filter(key=key).update(
            status_code=answer.status, response=answer.body
        )
    return answer


def purge_idempotency_keys(*, now: Any = None) -> int:
    """Forget the current tenant's keys older than `KEEP` (beat runs this)."""
    cutoff = (now or timezone.now()) - KEEP
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def _claim(key: str, request_hash: str) -> bool:
    """Insert the key's row, or take over one that has expired; False if it is held.

    A row inserted by a transaction still open makes this wait for it (the primary key):
    that is how concurrent requests with one key are serialised.
    """
    table = IdempotencyKey._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (key, request_hash, status_code, response, created_at)
            VALUES (%s, %s, NULL, NULL, %s)
            ON CONFLICT (key) DO UPDATE
                SET request_hash = EXCLUDED.request_hash, status_code = NULL,
                    response = NULL, created_at = EXCLUDED.created_at
                WHERE {table}.created_at < %s
            RETURNING key
            """,  # noqa: S608  (the table name comes from the model)
            [key, request_hash, timezone.now(), timezone.now() - KEEP],
        )
        return cursor.fetchone() is not None


def _answer_of(row: IdempotencyKey, request_hash: str) -> Answer:
    if row.request_hash != request_hash:
        raise IdempotencyConflict()
    if row.response is None or row.status_code is None:
        raise IdempotencyConflict("A request with this Idempotency-Key is still being processed.")
    return Answer(status=row.status_code, body=row.response, replayed=True)
