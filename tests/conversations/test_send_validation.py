"""POST /api/v1/conversations/send: every rule of docs/api.md#sending-a-message.

A refused send creates nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from agents.models import AgentRole
from conversations.models import Conversation, Message
from engium.ids import is_valid_id
from integrations.services import remove_integration, update_integration
from tests.builders import send_ok
from tests.conftest import ApiClient, TenantFixture, error_of, make_tenant
from webhooks.models import Event

SEND = "conversations/send"
EXAMPLE = "+15550102999"
URL = "https://cdn.example.com/files/receipt.jpg"
MISSING = object()
INVALID = "invalid_recipient"
VALIDATION = "validation_error"


def payload(**overrides: Any) -> dict[str, Any]:
    """The first-message example, with fields replaced (or removed with ``MISSING``)."""
    body: dict[str, Any] = {
        "recipient": EXAMPLE,
        "channel": "whatsapp",
        "message": {"text": "Hello from Engium! How can we help you today?"},
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not MISSING}


def msg(**message: Any) -> dict[str, Any]:
    return payload(message=message)


def counts(tenant: TenantFixture) -> tuple[int, int, int]:
    with tenant.schema():
        return Conversation.objects.count(), Message.objects.count(), Event.objects.count()


def assert_refused(
    api: ApiClient, tenant: TenantFixture, body: Any, code: str | set[str], field: str | None
) -> dict[str, Any]:
    """A 400 with ``code`` and ``field`` (a trailing ``*`` matches a prefix); nothing created."""
    before = counts(tenant)
    response = api.post(SEND, tenant=tenant, json_body=body)
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["code"] in ({code} if isinstance(code, str) else code), error
    assert error["message"]
    if field is not None and field.endswith("*"):
        assert str(error.get("field", "")).startswith(field[:-1]), error
    elif field is not None:
        assert error.get("field") == field, error
    assert counts(tenant) == before, "a refused send must create nothing"
    return error


def P(body: dict[str, Any], code: str | set[str], field: str | None, name: str) -> Any:
    return pytest.param(body, code, field, id=name)


def image(url: str) -> dict[str, Any]:
    return msg(media_url=url, media_type="image")


def voice(**message: Any) -> dict[str, Any]:
    return payload(channel="voice", message=message)


TEMPLATE = {"id": "welcome"}
MU, MT = "message.media_url", "message.media_type"
REFUSED = [
    # recipient
    P(payload(recipient=MISSING), VALIDATION, "recipient", "recipient missing"),
    P(payload(recipient=None), VALIDATION, "recipient", "recipient null"),
    P(payload(recipient=15550102999), {INVALID, VALIDATION}, "recipient", "recipient number"),
    P(payload(recipient=True), {INVALID, VALIDATION}, "recipient", "recipient bool"),
    P(payload(recipient=[EXAMPLE]), {INVALID, VALIDATION}, "recipient", "recipient list"),
    P(payload(recipient={"e164": EXAMPLE}), {INVALID, VALIDATION}, "recipient", "recipient object"),
    P(payload(recipient=""), INVALID, "recipient", "recipient empty"),
    P(payload(recipient="   "), INVALID, "recipient", "recipient blank"),
    P(payload(recipient="+"), INVALID, "recipient", "plus only"),
    P(payload(recipient="15550102999"), INVALID, "recipient", "no plus"),
    P(payload(recipient="0015550102999"), INVALID, "recipient", "00 prefix"),
    P(payload(recipient="++15550102999"), INVALID, "recipient", "double plus"),
    P(payload(recipient="+1555abc2999"), INVALID, "recipient", "letters"),
    P(payload(recipient="+1 555 CALL NOW"), INVALID, "recipient", "vanity letters"),
    P(payload(recipient="+1/555/010/2999"), INVALID, "recipient", "slashes"),
    P(payload(recipient="tel:+15550102999"), INVALID, "recipient", "tel uri"),
    P(payload(recipient="+1"), INVALID, "recipient", "+1 too short"),
    P(payload(recipient="+12"), INVALID, "recipient", "+12 too short"),
    P(payload(recipient="+999123"), INVALID, "recipient", "unknown country code"),
    P(payload(recipient="+0123456789"), INVALID, "recipient", "country code 0"),
    P(payload(recipient="+1555"), INVALID, "recipient", "impossible +1555"),
    P(payload(recipient="+4412"), INVALID, "recipient", "impossible +4412"),
    P(payload(recipient="+155501029991"), INVALID, "recipient", "11 digits in NANP"),
    P(payload(recipient="+1234567890123456"), INVALID, "recipient", "16 digits"),
    P(payload(recipient="+1" + "5" * 10_000), INVALID, "recipient", "10k digits"),
    # channel
    P(payload(channel=MISSING), VALIDATION, "channel", "channel missing"),
    P(payload(channel=None), VALIDATION, "channel", "channel null"),
    P(payload(channel=""), VALIDATION, "channel", "channel empty"),
    P(payload(channel="telegram"), VALIDATION, "channel", "channel unknown"),
    P(payload(channel="WhatsApp"), VALIDATION, "channel", "channel capitalised"),
    P(payload(channel=1), VALIDATION, "channel", "channel number"),
    P(payload(channel=["sms"]), VALIDATION, "channel", "channel list"),
    # message: absent, not an object, empty
    P(payload(message=MISSING), VALIDATION, "message", "message missing"),
    P(payload(message=None), VALIDATION, "message", "message null"),
    P(payload(message="hello"), VALIDATION, "message", "message string"),
    P(payload(message=["hello"]), VALIDATION, "message", "message list"),
    P(msg(), VALIDATION, "message*", "message empty object"),
    P(msg(text=""), VALIDATION, "message*", "text empty"),
    P(msg(text="   "), VALIDATION, "message*", "text blank"),
    P(msg(text="\n\t "), VALIDATION, "message*", "text whitespace"),
    P(msg(text=None), VALIDATION, "message*", "text null"),
    P(msg(text=True), VALIDATION, "message.text", "text bool"),
    P(msg(text=["hi"]), VALIDATION, "message.text", "text list"),
    P(msg(text={"body": "hi"}), VALIDATION, "message.text", "text object"),
    P(msg(text="a" * 4097), VALIDATION, "message.text", "text 4097"),
    P(msg(text="a" * 100_000), VALIDATION, "message.text", "text 100000"),
    # message: template together with text or media
    P(msg(text="hi", template=TEMPLATE), VALIDATION, "message*", "text and template"),
    P(msg(text="", template=TEMPLATE), VALIDATION, "message*", "empty text and template"),
    P(
        msg(template=TEMPLATE, media_url=URL, media_type="image"),
        VALIDATION,
        "message*",
        "tpl+media",
    ),
    # message: media
    P(image("http://cdn.example.com/a.jpg"), VALIDATION, MU, "http url"),
    P(image("ftp://cdn.example.com/a.jpg"), VALIDATION, MU, "ftp url"),
    P(image("//cdn.example.com/a.jpg"), VALIDATION, MU, "scheme-relative url"),
    P(image("https:///a.jpg"), VALIDATION, MU, "no host"),
    P(image("cdn.example.com/a.jpg"), VALIDATION, MU, "no scheme"),
    P(image("javascript:alert(1)"), VALIDATION, MU, "javascript url"),
    P(image(""), VALIDATION, MU, "empty url"),
    P(image(URL + "?" + "a" * 2048), VALIDATION, MU, "url over 2048"),
    P(msg(media_url=URL), VALIDATION, MT, "url without type"),
    P(msg(text="caption", media_url=URL), VALIDATION, MT, "caption, url, no type"),
    P(msg(media_type="image"), VALIDATION, MU, "type without url"),
    P(msg(text="caption", media_type="image"), VALIDATION, MU, "caption, no url"),
    P(msg(media_url=URL, media_type="sticker"), VALIDATION, MT, "type sticker"),
    P(msg(media_url=URL, media_type="IMAGE"), VALIDATION, MT, "type IMAGE"),
    P(msg(media_url=URL, media_type=""), VALIDATION, MT, "type empty"),
    P(msg(media_url=URL, media_type=None), VALIDATION, MT, "type null"),
    # voice: text or template only
    P(voice(media_url=URL, media_type="audio"), VALIDATION, "message*", "voice media"),
    P(voice(text="hi", media_url=URL, media_type="audio"), VALIDATION, "message*", "voice caption"),
    # template references
    P(msg(template={"id": "tmpl_nope"}), "template_not_found", None, "template unknown"),
    P(
        voice(template={"id": "tmpl_nope", "language": "es"}),
        "template_not_found",
        None,
        "tpl voice",
    ),
    P(msg(template={}), VALIDATION, "message.template*", "template without id"),
    P(msg(template={"language": "en"}), VALIDATION, "message.template*", "template language only"),
    P(msg(template={"id": ""}), VALIDATION, "message.template*", "template id empty"),
    P(msg(template={"id": None}), VALIDATION, "message.template*", "template id null"),
    P(msg(template={"id": "t" * 65}), VALIDATION, "message.template*", "template id too long"),
    P(msg(template={"id": "w", "language": "xx"}), VALIDATION, "message.template*", "tpl language"),
    P(msg(template={"id": "w", "variables": ["Ana"]}), VALIDATION, "message.template*", "tpl vars"),
    P(msg(template={"id": "w", "name": "w"}), VALIDATION, "message.template*", "tpl unknown key"),
    P(msg(template="welcome"), VALIDATION, "message.template*", "template string"),
    # unknown keys
    P(msg(text="hi", caption="x"), VALIDATION, "message.caption", "message.caption"),
    P(msg(text="hi", type="text"), VALIDATION, "message.type", "message.type"),
    P(msg(body="hi"), VALIDATION, "message.body", "message.body"),
    P({**payload(), "to": EXAMPLE}, VALIDATION, "to", "top-level to"),
    P({**payload(), "Recipient": EXAMPLE}, VALIDATION, "Recipient", "top-level Recipient"),
    P({**payload(), "priority": "high"}, VALIDATION, "priority", "top-level priority"),
    # agent_role_id
    P(payload(agent_role_id="nope"), VALIDATION, "agent_role_id", "role nope"),
    P(payload(agent_role_id="1234"), VALIDATION, "agent_role_id", "role 1234"),
    P(payload(agent_role_id=""), VALIDATION, "agent_role_id", "role empty"),
    P(payload(agent_role_id="0" * 33), VALIDATION, "agent_role_id", "role 33 hex"),
    P(payload(agent_role_id=["x"]), VALIDATION, "agent_role_id", "role list"),
    P(
        payload(agent_role_id=str(uuid.uuid4())),
        "agent_role_not_found",
        "agent_role_id",
        "role unknown",
    ),
]


@pytest.mark.parametrize(("body", "code", "field"), REFUSED)
def test_refused_sends(
    api: ApiClient, tenant_a: TenantFixture, body: Any, code: str | set[str], field: str | None
) -> None:
    assert_refused(api, tenant_a, body, code, field)


@pytest.mark.parametrize("role_id", [123, 0, True])
def test_agent_role_id_that_is_a_json_number_or_boolean_is_a_validation_error(
    api: ApiClient, tenant_a: TenantFixture, role_id: Any
) -> None:
    # DRF's UUIDField turns integers (and booleans) into UUID(int=…): 123 is not a UUID.
    assert_refused(api, tenant_a, payload(agent_role_id=role_id), VALIDATION, "agent_role_id")


@pytest.mark.parametrize(
    ("recipient", "stored"),
    [
        ("+1 (555) 010-2999", EXAMPLE),
        ("+1.555.010.2999", EXAMPLE),
        ("+1-555-010-2999", EXAMPLE),
        ("+1 555 010 2999", EXAMPLE),
        ("  +15550102999  ", EXAMPLE),
        ("+44 20 7946 0958", "+442079460958"),
        ("+49 (30) 901820", "+4930901820"),
    ],
)
def test_separators_are_tolerated_and_the_number_stored_in_e164(
    api: ApiClient, tenant_a: TenantFixture, recipient: str, stored: str
) -> None:
    body = send_ok(api, tenant_a, **payload(recipient=recipient))
    assert body["recipient"] == body["message"]["recipient"] == stored
    with tenant_a.schema():
        assert Conversation.objects.get(pk=body["id"]).recipient == stored
        assert Message.objects.get(pk=body["message"]["id"]).recipient == stored


# ------------------------------------------------------------------ channel integrations


def test_channel_without_integration_is_channel_not_configured(api: ApiClient, db: None) -> None:
    # given a tenant that connected SMS only
    only_sms = make_tenant("Only SMS", channels=("sms",))
    # then whatsapp and voice are refused, sms is accepted
    for channel in ("whatsapp", "voice"):
        assert_refused(api, only_sms, payload(channel=channel), "channel_not_configured", "channel")
    assert send_ok(api, only_sms, **payload(channel="sms"))["channel"] == "sms"


def test_a_disabled_integration_is_channel_not_configured_at_once(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    # given a send that warmed the tenant's routing
    send_ok(api, tenant_a, **payload(channel="sms"))
    # when the SMS integration is disabled
    with tenant_a.schema():
        update_integration(tenant_a.integrations["sms"], status="disabled")
    # then
    body = payload(channel="sms", recipient="+15550102998")
    assert_refused(api, tenant_a, body, "channel_not_configured", "channel")
    assert send_ok(api, tenant_a, **payload(channel="whatsapp"))["channel"] == "whatsapp"


def test_a_removed_integration_is_channel_not_configured(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    send_ok(api, tenant_a, **payload(channel="voice"))
    with tenant_a.schema():
        remove_integration(tenant_a.integrations["voice"])
    body = payload(channel="voice", recipient="+15550102998")
    assert_refused(api, tenant_a, body, "channel_not_configured", "channel")


# ------------------------------------------------------------------ accepted messages


def test_text_of_4096_characters_is_accepted_whole(api: ApiClient, tenant_a: TenantFixture) -> None:
    text = "é" * 4095 + "!"
    body = send_ok(api, tenant_a, **msg(text=text))
    with tenant_a.schema():
        assert Message.objects.get(pk=body["message"]["id"]).text == text


def test_text_is_stored_as_sent(api: ApiClient, tenant_a: TenantFixture) -> None:
    # docs/api.md#the-message-object: a message's `text` is "as sent"; leading indentation
    # and line breaks are content.
    text = "  Your code:\n\n    4711\n"
    body = send_ok(api, tenant_a, **msg(text=text))
    assert body["message"]["text"] == text
    with tenant_a.schema():
        assert Message.objects.get(pk=body["message"]["id"]).text == text


@pytest.mark.parametrize("media_type", ["image", "audio", "video", "document"])
def test_media_with_caption_is_accepted_on_whatsapp(
    api: ApiClient, tenant_a: TenantFixture, media_type: str
) -> None:
    body = send_ok(api, tenant_a, **msg(text="Your receipt", media_url=URL, media_type=media_type))
    assert (body["message"]["media_url"], body["message"]["media_type"]) == (URL, media_type)
    with tenant_a.schema():
        stored = Message.objects.get(pk=body["message"]["id"])
    assert (stored.text, stored.media_url, stored.media_type) == ("Your receipt", URL, media_type)


def test_media_without_caption_is_accepted(api: ApiClient, tenant_a: TenantFixture) -> None:
    body = send_ok(api, tenant_a, **msg(media_url=URL, media_type="image"))
    assert body["message"]["media_url"] == URL


def test_voice_takes_text(api: ApiClient, tenant_a: TenantFixture) -> None:
    assert send_ok(api, tenant_a, **payload(channel="voice"))["channel"] == "voice"


# ------------------------------------------------------------------ agent roles


def _role(tenant: TenantFixture, *, default: bool = False, name: str = "Support") -> AgentRole:
    with tenant.schema():
        return AgentRole.objects.create(name=name, instructions="Be kind.", is_default=default)


def test_unknown_agent_role_is_refused_even_with_a_default(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    _role(tenant_a, default=True)
    body = payload(agent_role_id=str(uuid.uuid4()))
    assert_refused(api, tenant_a, body, "agent_role_not_found", "agent_role_id")


def test_agent_role_of_another_tenant_is_not_found(
    api: ApiClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    foreign = _role(tenant_b)
    body = payload(agent_role_id=str(foreign.id))
    assert_refused(api, tenant_a, body, "agent_role_not_found", "agent_role_id")


def test_an_existing_agent_role_is_set_on_the_conversation(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    _role(tenant_a, default=True, name="Default")
    chosen = _role(tenant_a, name="Sales")
    body = send_ok(api, tenant_a, **payload(agent_role_id=str(chosen.id).upper()))
    assert body["agent_role_id"] == str(chosen.id)
    with tenant_a.schema():
        assert Conversation.objects.get(pk=body["id"]).agent_role_id == chosen.id


@pytest.mark.parametrize("role_id", [MISSING, None])
def test_omitted_agent_role_takes_the_tenant_default(
    api: ApiClient, tenant_a: TenantFixture, role_id: Any
) -> None:
    _role(tenant_a, name="Other")
    default = _role(tenant_a, default=True, name="Default")
    body = send_ok(api, tenant_a, **payload(agent_role_id=role_id))
    assert body["agent_role_id"] == str(default.id)
    with tenant_a.schema():
        assert Conversation.objects.get(pk=body["id"]).agent_role_id == default.id


def test_omitted_agent_role_without_a_default_is_null(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    _role(tenant_a, name="Not default")
    assert send_ok(api, tenant_a, **payload())["agent_role_id"] is None


# ------------------------------------------------------------------ the 201 answer, conversations


def test_the_201_answer_has_the_documented_shape(api: ApiClient, tenant_a: TenantFixture) -> None:
    role = _role(tenant_a, default=True)
    response = api.post(SEND, tenant=tenant_a, json_body=payload(recipient="+1 (555) 010-2999"))
    assert response.status_code == 201, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert is_valid_id(body["id"], "sess"), body["id"]
    assert (body["status"], body["channel"], body["recipient"]) == ("active", "whatsapp", EXAMPLE)
    assert body["agent_role_id"] == str(role.id)
    message = body["message"]
    assert is_valid_id(message["id"], "msg"), message["id"]
    assert message["status"] == "queued"
    assert message["conversation_id"] == body["id"]
    assert message["direction"] == "outbound"
    assert message["text"] == "Hello from Engium! How can we help you today?"
    with tenant_a.schema():
        stored = Message.objects.select_related("conversation").get(pk=message["id"])
    assert (stored.status, stored.conversation_id) == ("queued", body["id"])
    assert stored.conversation.status == "active"


def test_sends_to_one_recipient_and_channel_share_a_conversation(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    first = send_ok(api, tenant_a, **payload())
    second = send_ok(api, tenant_a, **payload(recipient="+1 555-010-2999", message={"text": "Hi?"}))
    other_channel = send_ok(api, tenant_a, **payload(channel="sms"))
    other_recipient = send_ok(api, tenant_a, **payload(recipient="+15550102998"))

    assert second["id"] == first["id"]
    assert second["message"]["id"] != first["message"]["id"]
    assert other_channel["id"] != first["id"]
    assert other_recipient["id"] not in {first["id"], other_channel["id"]}
    with tenant_a.schema():
        assert Message.objects.filter(conversation_id=first["id"]).count() == 2
        assert Conversation.objects.count() == 3


def test_a_send_after_close_opens_a_new_conversation(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    first = send_ok(api, tenant_a, **payload())
    closed = api.post(f"conversations/{first['id']}/close", tenant=tenant_a)
    assert closed.status_code == 200, closed.content
    assert closed.json()["status"] == "closed"

    second = send_ok(api, tenant_a, **payload())

    assert second["id"] != first["id"]
    assert second["status"] == "active"
    with tenant_a.schema():
        assert Conversation.objects.get(pk=first["id"]).status == "closed"
        assert Message.objects.filter(conversation_id=first["id"]).count() == 1
        assert Event.objects.filter(type="conversation.created").count() == 2


def test_only_the_first_send_raises_conversation_created(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    first = send_ok(api, tenant_a, **payload())
    with tenant_a.schema():
        created = list(Event.objects.filter(type="conversation.created"))
    assert len(created) == 1
    assert (created[0].data["id"], created[0].data["recipient"]) == (first["id"], EXAMPLE)

    send_ok(api, tenant_a, **msg(text="again"))

    with tenant_a.schema():
        assert Event.objects.filter(type="conversation.created").count() == 1


@pytest.mark.parametrize("text", [0, 1.5, -3])
def test_text_must_be_a_json_string_not_a_number(
    api: ApiClient, tenant_a: TenantFixture, text: object
) -> None:
    # DRF alone would store the number as "0"; the API takes strings only (found by fuzzing).
    response = api.send(tenant_a, message={"text": text})
    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["field"]) == ("validation_error", "message.text")


# (An empty `?cursor=` means no cursor, as an empty query parameter does in DRF: page one.)
@pytest.mark.parametrize("cursor", [" ", "sess_short", "sess_" + "0" * 25 + "!"])
def test_a_malformed_cursor_is_refused(
    api: ApiClient, tenant_a: TenantFixture, cursor: str
) -> None:
    response = api.get("conversations", tenant=tenant_a, query={"cursor": cursor})
    assert response.status_code == 400
    assert error_of(response)["field"] == "cursor"


_PLAIN_TEXT_CASES: list[Any] = [
    payload(),
    payload(recipient="  +1 (555) 010-2999 "),
    payload(recipient="12"),
    payload(recipient=15550102999),
    payload(recipient=None),
    payload(channel="sms"),
    payload(channel="voice"),
    payload(channel="fax"),
    payload(channel=["sms"]),
    payload(message={"text": "  padded  "}),
    payload(message={"text": " \t\n"}),
    payload(message={"text": ""}),
    payload(message={"text": "x" * 4096}),
    payload(message={"text": "x" * 4097}),
    payload(message={"text": "héllo ✓ 👋"}),
    payload(message={"text": "nul\x00inside"}),
    payload(message={"text": "lone \ud800 surrogate"}),
    payload(message={"text": 7}),
    payload(message={"text": None}),
    payload(message={"text": "hi", "media_type": "image"}),
    payload(message={}),
    payload(message="hi"),
    payload(message=MISSING),
    payload(agent_role_id=None),
    payload(extra=1),
    [payload()],
    "text",
]


@pytest.mark.parametrize("body", _PLAIN_TEXT_CASES)
def test_the_plain_text_shortcut_answers_as_the_serializer_does(body: Any) -> None:
    from conversations.serializers import SendMessageSerializer

    # given: what the serializer makes of the body
    serializer = SendMessageSerializer(data=body)
    valid = serializer.is_valid()
    expected = dict(serializer.validated_data) if valid else None

    # then: the shortcut gives the same, or leaves the body to the serializer
    shortcut = SendMessageSerializer.plain_text(body)
    if shortcut is not None:
        assert valid
        assert shortcut == {**expected, "message": dict(expected["message"])}  # type: ignore[dict-item]
    plain = (
        valid
        and set(body) == {"recipient", "channel", "message"}
        and isinstance(body["recipient"], str)
        and set(body["message"]) == {"text"}
    )
    assert (shortcut is not None) == plain  # and it takes every plain text send
