"""SSRF rules: https only and public addresses only, when an endpoint is saved and again at
every attempt, on the address actually connected to. No traffic leaves 127.0.0.1."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

from tests.conftest import ApiClient, TenantFixture, error_of
from tests.http_server import Reply, ScriptedServer
from webhooks.models import Attempt, Delivery, Endpoint
from webhooks.network import MAX_RESPONSE_BYTES, SNIPPET_BYTES, is_public_address
from webhooks.services import create_endpoint, send_deliveries, send_test_event
from webhooks.services.secrets import fresh_secrets

REFUSED = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",  # CGNAT
    "169.254.169.254",  # link-local (cloud metadata)
    "0.0.0.0",  # noqa: S104
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "2002:7f00:1::",  # 6to4 around 127.0.0.1
    "64:ff9b:1::1",
]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/hook",  # plain http
        "https://localhost/hook",  # resolves to 127.0.0.1
        "https://127.0.0.1/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/hook",
        "https://user:pass@93.184.216.34/hook",
        "ftp://93.184.216.34/hook",
        "not a url",
    ],
)
def test_saving_an_endpoint_refuses_unsafe_urls(
    api: ApiClient, tenant_a: TenantFixture, settings: Any, url: str
) -> None:
    settings.ENGIUM_WEBHOOKS_ALLOW_PRIVATE = False
    answer = api.post("webhooks", tenant=tenant_a, json_body={"url": url, "events": ["*"]})
    assert answer.status_code == 400, answer.content
    assert error_of(answer)["field"] == "url"


def test_every_attempt_checks_the_address_it_connects_to(
    tenant_a: TenantFixture, receiver: ScriptedServer, settings: Any, monkeypatch: Any
) -> None:
    """DNS rebinding: the name resolved to a public address when saved, to 127.0.0.1 now."""
    port = receiver.httpd.server_address[1]
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1"])
    real = socket.getaddrinfo

    def rebinding(host: str, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return real(host, *args, **kwargs)
        address = next(answers)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    settings.ENGIUM_WEBHOOKS_ALLOW_PRIVATE = False
    with tenant_a.schema():
        endpoint = create_endpoint(url=f"https://rebind.test:{port}/hook", events=["*"])
        send_deliveries([str(send_test_event(endpoint.id).pk)])
        attempt = Attempt.objects.get()
        assert attempt.status_code is None and "refused" in attempt.error
    assert receiver.received == []


def test_an_endpoint_saved_while_allowed_is_refused_once_the_rule_applies(
    tenant_a: TenantFixture, receiver: ScriptedServer, settings: Any
) -> None:
    with tenant_a.schema():
        endpoint = Endpoint.objects.create(
            url=f"{receiver.url}/hook", events=["*"], secrets=fresh_secrets()
        )
        settings.ENGIUM_WEBHOOKS_ALLOW_PRIVATE = False
        send_deliveries([str(send_test_event(endpoint.id).pk)])
        assert "refused" in Attempt.objects.get().error
        assert Delivery.objects.get().status == "pending"  # retried: the rule may be lifted
    assert receiver.received == []


def test_a_name_is_connected_to_by_address_with_its_host_header(
    tenant_a: TenantFixture, receiver: ScriptedServer
) -> None:
    port = receiver.httpd.server_address[1]
    with tenant_a.schema():
        endpoint = create_endpoint(url=f"http://localhost:{port}/hook?x=1", events=["*"])
        send_deliveries([str(send_test_event(endpoint.id).pk)])
    (received,) = receiver.received
    headers = {name.lower(): value for name, value in received.headers.items()}
    assert headers["host"] == f"localhost:{port}"
    assert received.path == "/hook?x=1"


def test_answers_are_read_up_to_a_cap_and_logged_truncated(
    tenant_a: TenantFixture, receiver: ScriptedServer
) -> None:
    receiver.default = Reply(body="x" * (MAX_RESPONSE_BYTES * 4))
    with tenant_a.schema():
        endpoint = create_endpoint(url=receiver.url, events=["*"])
        send_deliveries([str(send_test_event(endpoint.id).pk)])
        attempt = Attempt.objects.get()
    assert attempt.succeeded and len(attempt.response.encode()) <= SNIPPET_BYTES
