"""The send's two paths answer alike.

A plain send (a JSON body, an Accept that takes JSON, no query string) skips DRF's request
wrapper and renderer (`conversations.views.SendMessageView.dispatch`); any other request
takes DRF's whole path. Each case here is sent both ways, and the answers must agree in
status, headers and body (but for the IDs the send makes and the request's own ID).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.throttling import UserRateThrottle

from conversations import views
from conversations.models import Message
from tests.conftest import ApiClient, TenantFixture, make_tenant

pytestmark = pytest.mark.django_db

SEND = "conversations/send"
_OWN_IDS = re.compile(r"\b(sess|msg)_[0-9a-z]+")
_TIMES = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z")
_PLAIN_SEND = views._plain_send


def _comparable(answer: Any) -> tuple[int, dict[str, str], str]:
    headers = {
        name: value
        for name, value in answer.headers.items()
        if name not in {"X-Request-ID", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
    }
    body = _TIMES.sub("<time>", _OWN_IDS.sub(r"\1_<id>", answer.content.decode()))
    return answer.status_code, headers, body


def _both_ways(
    monkeypatch: pytest.MonkeyPatch, send: Callable[[int], Any]
) -> tuple[tuple[int, dict[str, str], str], tuple[int, dict[str, str], str]]:
    """``send`` answered on the plain path, then on DRF's (``send`` gets 0, then 1)."""
    taken: list[bool] = []
    plain_send = _PLAIN_SEND

    def spy(request: Any) -> bool:
        taken.append(plain_send(request))
        return taken[-1]

    monkeypatch.setattr(views, "_plain_send", spy)
    plain = _comparable(send(0))
    monkeypatch.setattr(views, "_plain_send", lambda request: False)
    drf = _comparable(send(1))
    assert taken == [True], "the first request did not take the plain path"
    return plain, drf


def body(recipient: str = "+15550102999", **message: Any) -> dict[str, Any]:
    return {
        "recipient": recipient,
        "channel": "whatsapp",
        "message": message or {"text": "Hello from Engium! How can we help you today?"},
    }


CASES: dict[str, tuple[Any, dict[str, str]]] = {
    "accepted": (body(), {}),
    "accepted with a key": (body(), {"Idempotency-Key": "same-{n}"}),
    "a template": (body(template={"name": "nope"}), {}),
    "a field refused": (body(recipient="12"), {}),
    "a foreign field": ({**body(), "extra": 1}, {}),
    "not JSON": ("{nope", {}),
    "JSON but not an object": ("[1, 2]", {}),
    "NaN": ('{"recipient": NaN}', {}),
    "a key too long": (body(), {"Idempotency-Key": "k" * 256}),
    "an unknown channel": ({**body(), "channel": "fax"}, {}),
    "a channel not connected": ({**body(), "channel": "voice"}, {}),
}


@pytest.mark.parametrize("case", CASES)
def test_both_paths_answer_alike(
    api: ApiClient, tenant_a: TenantFixture, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    payload, headers = CASES[case]

    def send(n: int) -> Any:
        extra = {name: value.format(n=n) for name, value in headers.items()}
        if isinstance(payload, str):
            return api.post(SEND, tenant=tenant_a, raw=payload, headers=_http(extra))
        return api.post(SEND, tenant=tenant_a, json_body=payload, headers=_http(extra))

    plain, drf = _both_ways(monkeypatch, send)
    assert plain == drf


def test_a_replay_and_a_conflict_answer_alike(
    api: ApiClient, tenant_a: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, first in (("replayed", body()), ("conflict", body(recipient="+15550102998"))):
        sent = api.post(
            SEND, tenant=tenant_a, json_body=first, headers=_http({"Idempotency-Key": key})
        )
        assert sent.status_code == 201, sent.content

    def again(n: int) -> Any:
        return api.post(
            SEND, tenant=tenant_a, json_body=body(), headers=_http({"Idempotency-Key": "replayed"})
        )

    def other_body(n: int) -> Any:
        return api.post(
            SEND, tenant=tenant_a, json_body=body(), headers=_http({"Idempotency-Key": "conflict"})
        )

    plain, drf = _both_ways(monkeypatch, again)
    assert plain == drf
    assert plain[0] == 201 and plain[1]["Idempotent-Replayed"] == "true"
    plain, drf = _both_ways(monkeypatch, other_body)
    assert plain == drf
    assert plain[0] == 409
    with tenant_a.schema():
        assert Message.objects.count() == 2


def test_a_send_over_the_limit_answers_alike(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant("Limited", channels=("sms",))
    tenant.tenant.rate_limit = 1
    tenant.tenant.save()
    assert api.send(tenant, channel="sms", recipient="+15550102001").status_code == 201

    plain, drf = _both_ways(
        monkeypatch, lambda n: api.send(tenant, channel="sms", recipient=f"+1555010300{n}")
    )
    assert plain[0] == 429
    assert {name: value for name, value in plain[1].items() if name != "Retry-After"} == {
        name: value for name, value in drf[1].items() if name != "Retry-After"
    }
    assert (plain[0], plain[2]) == (drf[0], drf[2])


@pytest.mark.parametrize(
    ("content_type", "headers", "query"),
    [
        ("application/json; charset=utf-8", {}, ""),
        ("application/json", {"HTTP_ACCEPT": "application/json; indent=4"}, ""),
        ("application/json", {}, "?format=json"),
        ("text/plain", {}, ""),
    ],
)
def test_other_requests_take_drfs_path(
    api: ApiClient,
    tenant_a: TenantFixture,
    monkeypatch: pytest.MonkeyPatch,
    content_type: str,
    headers: dict[str, str],
    query: str,
) -> None:
    taken: list[bool] = []
    plain_send = _PLAIN_SEND

    def spy(request: Any) -> bool:
        taken.append(plain_send(request))
        return False

    monkeypatch.setattr(views, "_plain_send", spy)
    extra: dict[str, Any] = {**tenant_a.headers(), **headers}
    api.client.post(
        f"/api/v1/{SEND}{query}",
        data='{"recipient": "+15550102999"}',
        content_type=content_type,
        **extra,
    )
    assert taken == [False]


def _http(headers: dict[str, str]) -> dict[str, str]:
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}


def test_the_plain_path_holds_only_while_drf_would_only_authenticate() -> None:
    assert views.SendMessageView._drf_would_only_authenticate()

    # a throttle, a permission or a renderer added later sends every request DRF's way
    class Throttled(views.SendMessageView):
        throttle_classes = [UserRateThrottle]

    class Scoped(views.SendMessageView):
        permission_classes = [IsAuthenticated, IsAdminUser]

    class Browsable(views.SendMessageView):
        renderer_classes = [JSONRenderer, BrowsableAPIRenderer]

    for changed in (Throttled, Scoped, Browsable):
        assert not changed._drf_would_only_authenticate(), changed
    assert views.SendMessageView._drf_would_only_authenticate()
