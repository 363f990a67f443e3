"""The Twilio adapter against a fake Twilio API speaking its real formats."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.providers.base import (
    CallbackRequest,
    ConfigError,
    OutboundMessage,
    PermanentProviderError,
    TransientProviderError,
)
from integrations.providers.twilio import TwilioProvider, signature
from tests.fakes import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, basic_auth_of, fixture, form_of
from tests.http_server import Reply

twilio = TwilioProvider()


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


def message(channel: str = "sms", **extra: object) -> OutboundMessage:
    fields: dict[str, object] = {
        "message_id": "msg_01",
        "channel": channel,
        "recipient": "+15550102999",
        "text": "Hello & welcome <3",
        "status_callback_url": "https://engium.example.com/callbacks/ten_x/intg_y/status",
        **extra,
    }
    return OutboundMessage(**fields)  # type: ignore[arg-type]


# ------------------------------------------------------------------ signatures


def test_signature_matches_twilios_documented_example() -> None:
    # Twilio's security docs: auth token 12345 and this request sign to 0/KCTR6DLpKmkAf8muzZqo1nDgQ=
    params = {
        "CallSid": ["CA1234567890ABCDE"],
        "Caller": ["+12349013030"],
        "Digits": ["1234"],
        "From": ["+12349013030"],
        "To": ["+18005551212"],
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_signature_matches_twilios_request_validator() -> None:
    # computed with twilio 9.13.0's RequestValidator("12345").compute_signature(...)
    params = {"MessageSid": ["SM1"], "MessageStatus": ["delivered"]}
    url = "https://example.com/callbacks/x/status"
    assert signature("12345", url, params) == "SYx5KQmJOqph2w8VMQz1YpaOxNM="


def _request(url: str, params: dict[str, str], sig: str | None) -> CallbackRequest:
    headers = {"X-Twilio-Signature": sig} if sig is not None else {}
    return CallbackRequest(
        method="POST",
        url=url,
        headers=headers,
        body=b"",
        params={k: [v] for k, v in params.items()},
    )


def test_verify_signature_accepts_good_and_refuses_bad_or_missing() -> None:
    config = {"auth_token": AUTH_TOKEN}
    params = fixture("twilio", "status__delivered")
    url = "https://engium.example.com/callbacks/ten_a/intg_b/status"
    good = signature(AUTH_TOKEN, url, {k: [v] for k, v in params.items()})
    assert twilio.verify_signature(config, _request(url, params, good))
    # Twilio may sign the URL with its default port
    ported = signature(
        AUTH_TOKEN, url.replace(".com/", ".com:443/"), {k: [v] for k, v in params.items()}
    )
    assert twilio.verify_signature(config, _request(url, params, ported))
    assert not twilio.verify_signature(config, _request(url, params, None))
    assert not twilio.verify_signature(config, _request(url, params, good[:-2] + "x="))
    assert not twilio.verify_signature(
        config, _request(url, {**params, "MessageStatus": "read"}, good)
    )
    assert not twilio.verify_signature({"auth_token": "other"}, _request(url, params, good))


# ------------------------------------------------------------------ config


def test_config_needs_account_token_and_a_sender() -> None:
    good = {"account_sid": ACCOUNT_SID, "auth_token": "t", "from_number": "+15557122661"}
    assert twilio.validate_config("sms", good)["base_url"] == "https://api.twilio.com"
    for broken, field in [
        ({**good, "account_sid": "nope"}, "config.account_sid"),
        ({**good, "auth_token": ""}, "config.auth_token"),
        ({**good, "from_number": "555"}, "config.from_number"),
        ({"account_sid": ACCOUNT_SID, "auth_token": "t"}, "config.from_number"),
        ({**good, "colour": "red"}, "config.colour"),
    ]:
        with pytest.raises(ConfigError) as caught:
            twilio.validate_config("sms", broken)
        assert caught.value.field == field
    service = {
        "account_sid": ACCOUNT_SID,
        "auth_token": "t",
        "messaging_service_sid": "MG" + "a" * 32,
    }
    assert twilio.validate_config("sms", service)
    with pytest.raises(ConfigError):
        twilio.validate_config("voice", service)  # calls need a caller ID


# ------------------------------------------------------------------ sends


def test_sms_is_form_encoded_with_basic_auth_and_a_status_callback(fake: FakeTwilio) -> None:
    result = twilio.send(fake.config(), message(), idempotency_key="msg_01")
    assert result.provider_message_id.startswith("SM") and result.status == "sent"
    (request,) = fake.received
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert basic_auth_of(request) == (ACCOUNT_SID, AUTH_TOKEN)
    assert form_of(request) == {
        "To": "+15550102999",
        "From": "+15557122661",
        "Body": "Hello & welcome <3",
        "StatusCallback": "https://engium.example.com/callbacks/ten_x/intg_y/status",
    }


def test_whatsapp_uses_whatsapp_addresses_and_media(fake: FakeTwilio) -> None:
    twilio.send(
        fake.config(),
        message("whatsapp", media_url="https://cdn.example.com/a.jpg", media_type="image"),
        idempotency_key="msg_01",
    )
    form = form_of(fake.received[0])
    assert form["To"] == "whatsapp:+15550102999" and form["From"] == "whatsapp:+15557122661"
    assert form["MediaUrl"] == "https://cdn.example.com/a.jpg"


def test_messaging_service_replaces_from(fake: FakeTwilio) -> None:
    config = fake.config(messaging_service_sid="MG" + "b" * 32)
    del config["from_number"]
    twilio.send(config, message(), idempotency_key="msg_01")
    form = form_of(fake.received[0])
    assert form["MessagingServiceSid"] == "MG" + "b" * 32 and "From" not in form


@pytest.mark.parametrize(
    ("language", "say_language", "voice"),
    [
        ("en", "en-US", "alice"),
        ("pt_BR", "pt-BR", "alice"),
        ("ar", "ar-XA", "Google.ar-XA-Standard-A"),
        ("hi", "hi-IN", "Google.hi-IN-Standard-A"),
        ("id", "id-ID", "Google.id-ID-Standard-A"),
    ],
)
def test_voice_calls_say_the_text_in_the_tenants_language(
    fake: FakeTwilio, language: str, say_language: str, voice: str
) -> None:
    result = twilio.send(
        fake.config(), message("voice", language=language), idempotency_key="msg_01"
    )
    assert result.provider_message_id.startswith("CA")
    (request,) = fake.received
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    form = form_of(request)
    assert form["To"] == "+15550102999" and form["From"] == "+15557122661"
    assert form["Twiml"] == (
        f'<Response><Say language="{say_language}" voice="{voice}">'
        "Hello &amp; welcome &lt;3</Say></Response>"
    )
    assert form["StatusCallback"].endswith("/status")


def test_a_refusal_is_permanent_with_twilios_code(fake: FakeTwilio) -> None:
    fake.replies.append(Reply(status=400, body=fixture("twilio", "error__invalid_to")))
    with pytest.raises(PermanentProviderError) as caught:
        twilio.send(fake.config(), message(), idempotency_key="msg_01")
    assert caught.value.code == "21211"
    assert caught.value.message == "Invalid 'To' Phone Number: +1555010XXXX"


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=429, body=fixture("twilio", "error__too_many_requests")),
        Reply(status=503, body={}),
    ],
)
def test_throttling_and_outages_are_transient(fake: FakeTwilio, reply: Reply) -> None:
    fake.replies.append(reply)
    with pytest.raises(TransientProviderError):
        twilio.send(fake.config(), message(), idempotency_key="msg_01")


def test_connection_test_reads_the_account(fake: FakeTwilio) -> None:
    assert twilio.test_connection(fake.config()).ok
    assert fake.received[0].method == "GET"
    assert fake.received[0].path == f"/2010-04-01/Accounts/{ACCOUNT_SID}.json"
    fake.replies.append(Reply(status=401, body=fixture("twilio", "error__authenticate")))
    check = twilio.test_connection(fake.config())
    assert not check.ok and check.detail == "20003: Authenticate"


# ------------------------------------------------------------------ callbacks


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("status__sent", "sent", None),
        ("status__delivered", "delivered", None),
        ("status__read_whatsapp", "read", None),
        ("status__undelivered", "undelivered", "30003"),
        ("status__failed", "failed", "30008"),
        ("call_status__completed", "delivered", None),
        ("call_status__no_answer", "undelivered", "twilio_no_answer"),
        ("call_status__busy", "undelivered", "twilio_busy"),
    ],
)
def test_statuses_map_onto_ours(name: str, status: str, code: str | None) -> None:
    payload = fixture("twilio", name)
    (report,) = twilio.parse_callback({}, payload).statuses
    assert report.status == status and report.error_code == code
    assert report.provider_message_id == (payload.get("MessageSid") or payload["CallSid"])
    if code:
        assert report.error_message


def test_progress_statuses_change_nothing() -> None:
    batch = twilio.parse_callback({}, fixture("twilio", "call_status__ringing"))
    assert not batch.statuses and not batch.inbound and batch.ignored


def test_inbound_sms_whatsapp_media_and_location() -> None:
    (sms,) = twilio.parse_callback({}, fixture("twilio", "inbound__sms")).inbound
    assert sms.sender == "+15550102999" and sms.text == "Hi, is my order on its way?"
    (media,) = twilio.parse_callback({}, fixture("twilio", "inbound__whatsapp_media")).inbound
    assert media.sender == "+15550102999" and media.media_type == "image"
    assert media.details and media.details["media"][0]["mime_type"] == "image/jpeg"
    (place,) = twilio.parse_callback({}, fixture("twilio", "inbound__whatsapp_location")).inbound
    assert place.details and place.details["location"]["latitude"] == 37.483307


def test_inbound_is_answered_with_empty_twiml() -> None:
    answer = twilio.answer_callback("inbound")
    assert (answer.status, answer.content_type, answer.body) == (200, "text/xml", "<Response/>")
