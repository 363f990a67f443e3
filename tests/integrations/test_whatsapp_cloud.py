"""The WhatsApp Cloud adapter against a fake Graph API speaking its real formats."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from integrations.providers.base import (
    CallbackRequest,
    ConfigError,
    OutboundMessage,
    PermanentProviderError,
    TemplateSubmission,
    TransientProviderError,
)
from integrations.providers.whatsapp_cloud import WhatsAppCloudProvider, hub_signature
from tests.fakes import (
    ACCESS_TOKEN,
    APP_SECRET,
    BUSINESS_ACCOUNT_ID,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    FakeGraph,
    fixture,
)
from tests.http_server import Reply

meta = WhatsAppCloudProvider()


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph() as server:
        yield server


def message(**extra: object) -> OutboundMessage:
    fields: dict[str, object] = {
        "message_id": "msg_01",
        "channel": "whatsapp",
        "recipient": "+15550102999",
        "text": "Hello",
        **extra,
    }
    return OutboundMessage(**fields)  # type: ignore[arg-type]


def sent_body(fake: FakeGraph, **extra: object) -> dict[str, object]:
    meta.send(fake.config(), message(**extra), idempotency_key="msg_01")
    request = fake.received[-1]
    assert request.path == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    body: dict[str, object] = json.loads(request.body)
    return body


def test_config_requires_credentials_and_defaults_the_version() -> None:
    good = {
        "phone_number_id": PHONE_NUMBER_ID,
        "access_token": "a",
        "app_secret": "b",
        "verify_token": "c",
    }
    clean = meta.validate_config("whatsapp", good)
    assert clean["api_version"] == "v21.0" and clean["base_url"] == "https://graph.facebook.com"
    for key in ("phone_number_id", "access_token", "app_secret", "verify_token"):
        with pytest.raises(ConfigError) as caught:
            meta.validate_config("whatsapp", {**good, key: ""})
        assert caught.value.field == f"config.{key}"
    with pytest.raises(ConfigError):
        meta.validate_config("whatsapp", {**good, "api_version": "21"})


def test_text(fake: FakeGraph) -> None:
    assert sent_body(fake) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+15550102999",
        "biz_opaque_callback_data": "msg_01",
        "type": "text",
        "text": {"preview_url": False, "body": "Hello"},
    }


@pytest.mark.parametrize("kind", ["image", "video", "document"])
def test_media_by_link_with_caption(fake: FakeGraph, kind: str) -> None:
    body = sent_body(fake, media_url="https://cdn.example.com/f", media_type=kind)
    assert body["type"] == kind
    assert body[kind] == {"link": "https://cdn.example.com/f", "caption": "Hello"}


def test_audio_takes_no_caption(fake: FakeGraph) -> None:
    body = sent_body(fake, media_url="https://cdn.example.com/a.ogg", media_type="audio")
    assert body["audio"] == {"link": "https://cdn.example.com/a.ogg"}


def test_template_message_with_body_parameters_in_order(fake: FakeGraph) -> None:
    body = sent_body(
        fake,
        text="Olá Ana, o pedido 42 saiu.",
        template={"name": "order_update", "language": "pt_BR", "parameters": ["Ana", "42"]},
    )
    assert body["type"] == "template"
    assert body["template"] == {
        "name": "order_update",
        "language": {"code": "pt_BR"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "42"}],
            }
        ],
    }
    # without variables: no components at all
    body = sent_body(fake, template={"name": "hello", "language": "es", "parameters": []})
    assert body["template"] == {"name": "hello", "language": {"code": "es"}}


def test_config_business_account_and_session_window() -> None:
    good = {
        "phone_number_id": PHONE_NUMBER_ID,
        "access_token": "a",
        "app_secret": "b",
        "verify_token": "c",
    }
    clean = meta.validate_config("whatsapp", good)
    assert clean["session_window"] is True and "business_account_id" not in clean
    assert meta.enforces_session_window(clean) and not meta.reviews_templates(clean)
    clean = meta.validate_config(
        "whatsapp", {**good, "business_account_id": BUSINESS_ACCOUNT_ID, "session_window": False}
    )
    assert not meta.enforces_session_window(clean) and meta.reviews_templates(clean)
    for key, value in (("business_account_id", "waba-1"), ("session_window", "no")):
        with pytest.raises(ConfigError) as caught:
            meta.validate_config("whatsapp", {**good, key: value})
        assert caught.value.field == f"config.{key}"


def test_submitting_a_template_creates_it_or_edits_the_known_one(fake: FakeGraph) -> None:
    config = fake.config(business_account_id=BUSINESS_ACCOUNT_ID)
    submission = TemplateSubmission(
        name="order_update",
        category="utility",
        language="pt_BR",
        text="Olá {{1}}, o pedido {{2}} saiu.",
        examples=["Ana", "42"],
    )
    report = meta.submit_template(config, submission)
    created = fake.received[-1]
    assert created.method == "POST"
    assert created.path == f"/v21.0/{BUSINESS_ACCOUNT_ID}/message_templates"
    assert created.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert json.loads(created.body) == {
        "name": "order_update",
        "language": "pt_BR",
        "category": "UTILITY",
        "components": [
            {
                "type": "BODY",
                "text": "Olá {{1}}, o pedido {{2}} saiu.",
                "example": {"body_text": [["Ana", "42"]]},
            }
        ],
    }
    assert report.status == "pending" and report.provider_template_id.isdigit()

    edited = meta.submit_template(
        config,
        TemplateSubmission(
            name="order_update",
            category="utility",
            language="pt_BR",
            text="Oi!",
            examples=[],
            provider_template_id="594425479261596",
        ),
    )
    assert fake.received[-1].path == "/v21.0/594425479261596"
    assert json.loads(fake.received[-1].body) == {
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Oi!"}],
    }
    assert edited.status == "pending" and edited.provider_template_id == "594425479261596"


def test_a_refused_submission_is_a_permanent_error(fake: FakeGraph) -> None:
    fake.replies.append(Reply(status=400, body=fixture("whatsapp_cloud", "error__invalid_token")))
    with pytest.raises(PermanentProviderError):
        meta.submit_template(
            fake.config(business_account_id=BUSINESS_ACCOUNT_ID),
            TemplateSubmission(name="x", category="utility", language="en", text="Hi", examples=[]),
        )


def test_listing_templates_follows_the_pages(fake: FakeGraph) -> None:
    listing = fixture("whatsapp_cloud", "templates__list")
    first = {**listing, "paging": {**listing["paging"], "next": "https://graph/next"}}
    fake.replies.append(Reply(body=first))
    fake.replies.append(
        Reply(body={"data": [{"name": "bye", "language": "de", "status": "PAUSED"}]})
    )
    reports = meta.list_templates(fake.config(business_account_id=BUSINESS_ACCOUNT_ID))
    assert [(r.name, r.language, r.status, r.reason) for r in reports] == [
        ("order_update", "es", "approved", ""),
        ("order_update", "pt_BR", "rejected", "INCORRECT_CATEGORY"),
        ("hello_world", "en_US", "approved", ""),
        ("bye", "de", "disabled", ""),
    ]
    assert "after=MjQZD" in fake.received[1].path
    assert fake.received[0].path.startswith(f"/v21.0/{BUSINESS_ACCOUNT_ID}/message_templates?")


@pytest.mark.parametrize(
    ("name", "status", "reason"),
    [
        ("template_status__approved", "approved", ""),
        (
            "template_status__rejected",
            "rejected",
            "INVALID_FORMAT: Variable parameters are not allowed at the start of the body.",
        ),
    ],
)
def test_template_status_webhook(name: str, status: str, reason: str) -> None:
    batch = meta.parse_callback({}, fixture("whatsapp_cloud", name))
    assert not batch.statuses and not batch.inbound and not batch.ignored
    (report,) = batch.template_statuses
    assert (report.status, report.name, report.language, report.reason) == (
        status,
        "order_update",
        "pt_BR",
        reason,
    )
    assert report.provider_template_id == "594425479261596"


def test_answer_names_the_wamid(fake: FakeGraph) -> None:
    result = meta.send(fake.config(), message(), idempotency_key="msg_01")
    assert result.provider_message_id.startswith("wamid.") and result.status == "sent"


@pytest.mark.parametrize("name", ["error__throughput", "error__pair_rate_limit"])
def test_meta_throttling_codes_are_transient_even_on_400(fake: FakeGraph, name: str) -> None:
    fake.replies.append(Reply(status=400, body=fixture("whatsapp_cloud", name)))
    with pytest.raises(TransientProviderError):
        meta.send(fake.config(), message(), idempotency_key="msg_01")


def test_other_refusals_are_permanent_with_metas_code(fake: FakeGraph) -> None:
    fake.replies.append(
        Reply(status=400, body=fixture("whatsapp_cloud", "error__recipient_not_allowed"))
    )
    with pytest.raises(PermanentProviderError) as caught:
        meta.send(fake.config(), message(), idempotency_key="msg_01")
    assert caught.value.code == "131030"
    assert "Recipient phone number not in allowed list" in caught.value.message


def test_connection_test_reads_the_phone_number(fake: FakeGraph) -> None:
    assert meta.test_connection(fake.config()).ok
    assert fake.received[0].path.startswith(f"/v21.0/{PHONE_NUMBER_ID}?")
    fake.replies.append(Reply(status=401, body=fixture("whatsapp_cloud", "error__invalid_token")))
    check = meta.test_connection(fake.config())
    assert not check.ok and check.detail.startswith("190: Error validating access token")


# ------------------------------------------------------------------ webhooks


def _post(body: bytes, sig: str | None) -> CallbackRequest:
    headers = {"X-Hub-Signature-256": sig} if sig is not None else {}
    return CallbackRequest(method="POST", url="https://e/x", headers=headers, body=body, params={})


def test_hub_signature_is_hex_hmac_sha256_of_the_raw_body() -> None:
    # Meta's example form: sha256= and 64 hex digits; checked against a plain hmac
    import hashlib
    import hmac

    body = b'{"object":"whatsapp_business_account"}'
    expected = hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert hub_signature("secret", body) == f"sha256={expected}"


def test_verify_signature() -> None:
    config = {"app_secret": APP_SECRET}
    body = json.dumps(fixture("whatsapp_cloud", "status__read")).encode()
    good = hub_signature(APP_SECRET, body)
    assert meta.verify_signature(config, _post(body, good))
    assert not meta.verify_signature(config, _post(body, None))
    assert not meta.verify_signature(config, _post(body + b" ", good))
    assert not meta.verify_signature(config, _post(body, "sha256=" + "0" * 64))


def test_subscription_check_echoes_the_challenge_only_for_the_right_token() -> None:
    config = {"verify_token": VERIFY_TOKEN}
    params = {
        "hub.mode": ["subscribe"],
        "hub.verify_token": [VERIFY_TOKEN],
        "hub.challenge": ["1158201444"],
    }
    answer = meta.answer_verification(config, params)
    assert answer is not None and answer.body == "1158201444"
    assert meta.answer_verification(config, {**params, "hub.verify_token": ["nope"]}) is None
    assert meta.answer_verification(config, {**params, "hub.mode": ["unsubscribe"]}) is None


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("status__sent", "sent", None),
        ("status__delivered", "delivered", None),
        ("status__read", "read", None),
        ("status__failed", "failed", "131026"),
    ],
)
def test_statuses(name: str, status: str, code: str | None) -> None:
    (report,) = meta.parse_callback({}, fixture("whatsapp_cloud", name)).statuses
    assert report.status == status and report.error_code == code
    assert report.provider_message_id and report.occurred_at
    if code:
        assert report.error_message == "Message undeliverable"


@pytest.mark.parametrize(
    ("name", "text", "media_type", "detail"),
    [
        ("inbound__text", "Hi, is my order on its way?", None, None),
        ("inbound__image", "The receipt", "image", "media"),
        ("inbound__audio", "", "audio", "media"),
        ("inbound__document", "Invoice", "document", "media"),
        ("inbound__sticker", "", "image", "media"),
        ("inbound__location", "Main office", None, "location"),
        ("inbound__contacts", "", None, "contacts"),
        ("inbound__button_reply", "Track my order", None, "interactive"),
        ("inbound__list_reply", "Shipping", None, "interactive"),
        ("inbound__button", "Stop promotions", None, "button"),
        ("inbound__reaction", "\N{THUMBS UP SIGN}", None, "reaction"),
        ("inbound__unsupported", "", None, "raw"),
    ],
)
def test_inbound_messages(name: str, text: str, media_type: str | None, detail: str | None) -> None:
    (inbound,) = meta.parse_callback({}, fixture("whatsapp_cloud", name)).inbound
    assert inbound.sender == "+15550102999" and inbound.provider_message_id
    assert inbound.text == text and inbound.media_type == media_type
    if detail is None:
        assert inbound.details is None
    else:
        assert inbound.details is not None and detail in inbound.details
    if detail == "media":
        assert inbound.details and inbound.details["media"]["id"]
        assert inbound.details["media"]["mime_type"]


def test_a_batched_event_yields_every_entry_and_change() -> None:
    batch = meta.parse_callback({}, fixture("whatsapp_cloud", "event__batched"))
    assert [r.status for r in batch.statuses] == ["delivered", "read"]
    assert [m.text for m in batch.inbound] == ["first", "second"]


def test_unknown_fields_are_ignored() -> None:
    batch = meta.parse_callback({}, fixture("whatsapp_cloud", "event__unknown_field"))
    assert not batch.statuses and not batch.inbound and batch.ignored
