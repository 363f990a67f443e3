"""Idempotency-Key: a send repeated with the same key and body creates nothing new.

Kept per tenant (in its schema) for `KEEP`. The contract (docs/api.md#idempotency):

* the same key and the same body answer the first answer again (same status and body);
* the same key and another body answer ``409 idempotency_conflict``;
* requests with one key made at the same time create exactly one message;
* a send that fails (any 4xx) keeps nothing, so the client may correct it and retry with
  the same key.

How: the send's one statement (`conversations.services.messages`) inserts the key's row,
with the answer, next to the message, so both commit together or neither does. A second
request with the key runs the same statement, which waits on the key's unique index
until the first commits, then fails as a whole (creating nothing): it reads the row the
first committed and answers that (`send_once`). Replays cost no SQL on the way in; a
read happens only when a key turns out to be used already.

"The same body" means the same JSON value: key order and white space do not matter.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from conversations.models import IdempotencyKey
from engium.exceptions import EngiumError, IdempotencyConflict, ValidationFailed

if TYPE_CHECKING:
    from conversations.models import Message

KEEP = timedelta(hours=24)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass
class Claim:
    """A key the send's statement claims, and how the send's answer renders a message
    (the API's renderer: the service does not know the API's shapes).

    ``answer``: once the statement has run, the answer it stored with the key (the send
    answers it too, rather than rendering it again).
    """

    key: str
    request_hash: str
    render: Callable[[Message], dict[str, Any]]
    answer: dict[str, Any] | None = field(default=None, compare=False)


class KeyTaken(Exception):
    """The key's row exists: another send with it committed first (or it awaits the purge)."""


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


def send_once(claim: Claim, send: Callable[[], Answer]) -> Answer:
    """Run ``send``, whose statement claims ``claim.key``; or answer what the key answered.

    A send refused before its statement (a client error) first looks for the key's answer:
    a replay answers as the first request did even if, say, its channel was removed since.
    """
    for _ in range(3):
        try:
            return send()
        except KeyTaken:
            row = IdempotencyKey.objects.filter(key=claim.key).first()
            if row is None:
                continue  # purged in between: the key is free again
            if row.created_at < timezone.now() - KEEP:
                # Expired, not yet purged: forget it, and send afresh.
                IdempotencyKey.objects.filter(
                    key=claim.key, created_at__lt=timezone.now() - KEEP
                ).delete()
                continue
            return _answer_of(row, claim.request_hash)
        except EngiumError:
            stored = find_answer(claim.key, claim.request_hash)
            if stored is not None:
                return stored
            raise
    raise IdempotencyConflict("A request with this Idempotency-Key is still being processed.")


def purge_idempotency_keys(*, now: Any = None) -> int:
    """Forget the current tenant's keys older than `KEEP` (beat runs this)."""
    cutoff = (now or timezone.now()) - KEEP
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def _answer_of(row: IdempotencyKey, request_hash: str) -> Answer:
    if row.request_hash != request_hash:
        raise IdempotencyConflict()
    if row.response is None or row.status_code is None:
        raise IdempotencyConflict("A request with this Idempotency-Key is still being processed.")
    return Answer(status=row.status_code, body=row.response, replayed=True)
