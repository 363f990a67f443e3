"""`engium.webhooks.verify` against the official Standard Webhooks library."""

from __future__ import annotations

import base64
import json
import os
import time
from datetime import UTC, datetime
from types import ModuleType

import pytest
from standardwebhooks import Webhook

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
BODY = json.dumps(
    {
        "type": "conversation.closed",
        "timestamp": "2026-11-29T14:01:02.123456Z",
        "data": {
            "id": "sess_01m8ksth2m1exmarp5ax2vx0pf",
            "status": "closed",
            "channel": "sms",
            "recipient": "+15550102999",
            "agent_role_id": None,
            "integration_id": "intg_01m8ksth2m1exmarp5ax2vx0pg",
            "created_at": "2026-11-29T14:00:00Z",
            "last_activity_at": "2026-11-29T14:01:00Z",
            "closed_at": "2026-11-29T14:01:02.123456Z",
        },
    }
)


def _headers(
    secret: str, body: str, *, msg_id: str = "evt_1", at: float | None = None
) -> dict[str, str]:
    timestamp = datetime.fromtimestamp(at if at is not None else time.time(), tz=UTC)
    signature = Webhook(secret).sign(msg_id, timestamp, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


def test_a_delivery_signed_by_the_official_library_verifies_into_a_typed_event(
    sdk: ModuleType,
) -> None:
    # given a delivery signed as Standard Webhooks signs it
    headers = _headers(SECRET, BODY)
    # when
    event = sdk.webhooks.verify(BODY.encode(), headers, SECRET)
    # then
    assert (event.id, event.type) == ("evt_1", "conversation.closed")
    assert event.timestamp == datetime(2026, 11, 29, 14, 1, 2, 123456, tzinfo=UTC)
    assert event.conversation.status == "closed"
    assert event.conversation.closed_at == event.timestamp
    assert event.message is None


def test_our_signature_is_accepted_by_the_official_library(sdk: ModuleType) -> None:
    timestamp = int(time.time())
    signature = sdk.webhooks.sign(SECRET, "evt_2", timestamp, BODY)
    headers = {
        "webhook-id": "evt_2",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }
    assert Webhook(SECRET).verify(BODY, headers)["type"] == "conversation.closed"


def test_headers_are_found_whatever_their_case_and_one_of_several_signatures_suffices(
    sdk: ModuleType,
) -> None:
    old_secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    headers = _headers(SECRET, BODY)
    rotated = _headers(old_secret, BODY)["webhook-signature"]
    mixed_case = {
        "Webhook-Id": headers["webhook-id"],
        "Webhook-Timestamp": headers["webhook-timestamp"],
        # while a secret is rotated both signatures come, space-separated
        "Webhook-Signature": f"{rotated} {headers['webhook-signature']}",
    }
    assert sdk.webhooks.verify(BODY, mixed_case, SECRET).type == "conversation.closed"
    assert sdk.webhooks.verify(BODY, mixed_case, old_secret).type == "conversation.closed"


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (lambda h, b: (h, b.replace("closed", "active")), "invalid_signature"),
        (lambda h, b: ({**h, "webhook-id": "evt_other"}, b), "invalid_signature"),
        (lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b), "invalid_signature"),
        (
            lambda h, b: (
                {**h, "webhook-signature": h["webhook-signature"].replace("v1,", "v2,")},
                b,
            ),
            "invalid_signature",
        ),
        (
            lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
            "missing_header",
        ),
        (lambda h, b: ({**h, "webhook-timestamp": "soon"}, b), "invalid_timestamp"),
    ],
)
def test_a_tampered_delivery_raises(sdk: ModuleType, tamper: object, code: str) -> None:
    headers, body = tamper(_headers(SECRET, BODY), BODY)  # type: ignore[operator]
    with pytest.raises(sdk.WebhookVerificationError) as raised:
        sdk.webhooks.verify(body, headers, SECRET)
    assert raised.value.code == code


def test_another_secret_is_refused(sdk: ModuleType) -> None:
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(sdk.WebhookVerificationError):
        sdk.webhooks.verify(BODY, _headers(SECRET, BODY), other)


def test_a_timestamp_outside_the_tolerance_raises_even_with_a_valid_signature(
    sdk: ModuleType,
) -> None:
    old = _headers(SECRET, BODY, at=time.time() - 301)
    future = _headers(SECRET, BODY, at=time.time() + 301)
    for headers, code in ((old, "timestamp_too_old"), (future, "timestamp_too_new")):
        with pytest.raises(sdk.WebhookVerificationError) as raised:
            sdk.webhooks.verify(BODY, headers, SECRET)
        assert raised.value.code == code
        # the official library agrees
        with pytest.raises(Exception, match="timestamp"):
            Webhook(SECRET).verify(BODY, headers)
    # a wider tolerance accepts it
    assert sdk.webhooks.verify(BODY, old, SECRET, tolerance=600).id == "evt_1"
