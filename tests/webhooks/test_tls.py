"""The https path: the sender connects to the checked address of the endpoint's host name,
sends that name as SNI, and verifies the server's certificate for it against the trusted
authorities (``ENGIUM_WEBHOOKS_CA_BUNDLE``).

The receivers are TLS servers on 127.0.0.1 with certificates made at test time; the host
name reaches 127.0.0.1 through ``ENGIUM_WEBHOOKS_RESOLVE``, so no DNS is involved.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from tests.conftest import ApiClient, TenantFixture, error_of
from tests.http_server import Reply, ScriptedServer
from tests.tls import CertificateAuthority, ServerCertificate, self_signed
from webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint
from webhooks.services import create_endpoint, send_deliveries, send_test_event

HOST = "hooks.engium.test"


@pytest.fixture
def ca(tmp_path: Path, settings: Any) -> CertificateAuthority:
    authority = CertificateAuthority(tmp_path)
    settings.ENGIUM_WEBHOOKS_CA_BUNDLE = str(authority.cert_file)
    settings.ENGIUM_WEBHOOKS_RESOLVE = {HOST: "127.0.0.1", f"other.{HOST}": "127.0.0.1"}
    return authority


def tls_receiver(certificate: ServerCertificate) -> ScriptedServer:
    return ScriptedServer(tls=certificate.server_context())


@pytest.fixture
def valid_receiver(ca: CertificateAuthority) -> Iterator[ScriptedServer]:
    with tls_receiver(ca.issue(HOST)) as server:
        yield server


def attempt_once(url: str) -> tuple[Endpoint, Delivery, Attempt]:
    endpoint = create_endpoint(url=url, events=["*"])
    pk = send_test_event(endpoint.id).pk
    send_deliveries([str(pk)])
    return endpoint, Delivery.objects.get(pk=pk), Attempt.objects.get(delivery_id=pk)


def assert_retried_later(delivery: Delivery, attempt: Attempt) -> None:
    """A failed attempt, logged; the delivery waits for its first retry (5 s ± 20 %)."""
    assert (attempt.status_code, attempt.succeeded) == (None, False)
    assert delivery.status == DeliveryStatus.PENDING
    assert (delivery.attempts, delivery.claimed_until, delivery.dispatched_at) == (1, None, None)
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=2)


def test_a_delivery_over_https_verifies_the_certificate_for_the_host_name(
    tenant_a: TenantFixture, valid_receiver: ScriptedServer
) -> None:
    with tenant_a.schema():
        endpoint, delivery, attempt = attempt_once(f"https://{HOST}:{valid_receiver.port}/hook")
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert (attempt.status_code, attempt.succeeded, attempt.error) == (200, True, "")
    # the server was asked for the host name (SNI), not for the address connected to
    assert valid_receiver.server_names == [HOST]
    assert valid_receiver.tls_failures == []
    (received,) = valid_receiver.received
    headers = {name.lower(): value for name, value in received.headers.items()}
    assert headers["host"] == f"{HOST}:{valid_receiver.port}"
    assert received.path == "/hook"
    payload = Webhook(endpoint.secrets["current"]).verify(received.body, received.headers)
    assert payload["type"] == "webhook.test"


def test_a_certificate_for_another_host_name_fails_the_attempt_and_is_retried(
    tenant_a: TenantFixture, ca: CertificateAuthority
) -> None:
    with tls_receiver(ca.issue(f"other.{HOST}")) as receiver, tenant_a.schema():
        endpoint, delivery, attempt = attempt_once(f"https://{HOST}:{receiver.port}/hook")
        assert_retried_later(delivery, attempt)
        assert attempt.error.startswith("TLS certificate not accepted")
        assert "Hostname mismatch" in attempt.error
        endpoint.refresh_from_db()
        assert endpoint.failing_since is not None and endpoint.enabled
    assert receiver.server_names == [HOST]
    assert receiver.received == []


def test_a_self_signed_certificate_fails_the_attempt(
    tenant_a: TenantFixture, ca: CertificateAuthority, tmp_path: Path
) -> None:
    with tls_receiver(self_signed(tmp_path, HOST)) as receiver, tenant_a.schema():
        _, delivery, attempt = attempt_once(f"https://{HOST}:{receiver.port}/hook")
        assert_retried_later(delivery, attempt)
        assert attempt.error.startswith("TLS certificate not accepted")
        assert "self-signed certificate" in attempt.error
    assert receiver.received == []


def test_an_authority_outside_the_bundle_is_not_trusted(
    tenant_a: TenantFixture, valid_receiver: ScriptedServer, settings: Any
) -> None:
    """The default bundle (certifi's) does not hold the test authority."""
    settings.ENGIUM_WEBHOOKS_CA_BUNDLE = ""
    with tenant_a.schema():
        _, delivery, attempt = attempt_once(f"https://{HOST}:{valid_receiver.port}/hook")
        assert_retried_later(delivery, attempt)
        assert "unable to get local issuer certificate" in attempt.error
    assert valid_receiver.received == []


def test_a_recovered_certificate_gets_the_retry_with_the_same_webhook_id(
    tenant_a: TenantFixture, ca: CertificateAuthority, tmp_path: Path
) -> None:
    with tls_receiver(self_signed(tmp_path, HOST)) as broken, tenant_a.schema():
        _, delivery, _ = attempt_once(f"https://{HOST}:{broken.port}/hook")
        port = broken.port
    with ScriptedServer(port=port, tls=ca.issue(HOST).server_context()) as fixed:
        with tenant_a.schema():
            Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
            send_deliveries([str(delivery.pk)])
            delivery.refresh_from_db()
            assert delivery.status == DeliveryStatus.SUCCEEDED
            log = list(
                Attempt.objects.filter(delivery=delivery).values_list("succeeded", flat=True)
            )
            assert log == [False, True]
        (received,) = fixed.received
        assert received.headers["webhook-id"] == delivery.event_id


def test_a_redirect_over_https_is_not_followed(
    tenant_a: TenantFixture, ca: CertificateAuthority, valid_receiver: ScriptedServer
) -> None:
    with tls_receiver(ca.issue(HOST)) as target:
        valid_receiver.default = Reply(
            status=307, headers={"Location": f"https://{HOST}:{target.port}/elsewhere"}
        )
        with tenant_a.schema():
            _, delivery, attempt = attempt_once(f"https://{HOST}:{valid_receiver.port}/hook")
        assert attempt.status_code == 307 and not attempt.succeeded
        assert delivery.status == DeliveryStatus.PENDING
        assert target.received == [] and target.server_names == []
    assert len(valid_receiver.received) == 1


def test_a_fixed_address_is_still_checked_against_the_ssrf_rules(
    api: ApiClient,
    tenant_a: TenantFixture,
    valid_receiver: ScriptedServer,
    settings: Any,
) -> None:
    """``ENGIUM_WEBHOOKS_RESOLVE`` stands in for DNS; it does not lift the address rules."""
    url = f"https://{HOST}:{valid_receiver.port}/hook"
    with tenant_a.schema():
        endpoint = create_endpoint(url=url, events=["*"])
    settings.ENGIUM_WEBHOOKS_ALLOW_PRIVATE = False
    answer = api.post("webhooks", tenant=tenant_a, json_body={"url": url, "events": ["*"]})
    assert answer.status_code == 400, answer.content
    assert "127.0.0.1 is not a public address" in error_of(answer)["message"]
    with tenant_a.schema():
        pk = send_test_event(endpoint.id).pk
        send_deliveries([str(pk)])
        attempt = Attempt.objects.get(delivery_id=pk)
        assert attempt.error == "refused: 127.0.0.1 is not a public address"
    assert valid_receiver.received == [] and valid_receiver.server_names == []
