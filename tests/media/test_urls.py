"""Signed media URLs: served to whoever holds one, until they expire; tampering reveals nothing."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core import signing as django_signing
from django.test import Client

from media import signing
from tests.conftest import TenantFixture, error_of
from tests.media.conftest import media_path, uploaded
from tests.media.files import pdf, png


class _SignedInThePast(django_signing.TimestampSigner):
    """A signer whose clock is ``seconds`` behind: a URL made with it is that old."""

    seconds = 0

    def timestamp(self) -> str:
        return django_signing.b62_encode(int(time.time()) - self.seconds)


def url_signed_ago(
    monkeypatch: pytest.MonkeyPatch, tenant_id: str, media_id: str, seconds: int
) -> str:
    signer = type("Signer", (_SignedInThePast,), {"seconds": seconds})
    with monkeypatch.context() as patch:
        patch.setattr(signing, "_signer", lambda: signer(salt=signing.SALT))
        return signing.media_url(tenant_id, media_id)


def test_a_signed_url_serves_the_file_with_its_type(tenant_a: TenantFixture) -> None:
    content = pdf("Invoice 42")
    body = uploaded(tenant_a, content, "invoice 42.pdf")
    response = Client().get(media_path(body["media_url"]))  # no API key, no tenant header
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Length"] == str(len(content))
    assert response["X-Content-Type-Options"] == "nosniff"
    assert 'filename="invoice 42.pdf"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == content
    head = Client().head(media_path(body["media_url"]))
    assert head.status_code == 200 and head["Content-Length"] == str(len(content))
    assert head.content == b""
    assert Client().post(media_path(body["media_url"])).status_code == 405


def test_an_expired_url_is_410_and_a_fresh_one_comes_with_every_reading(
    tenant_a: TenantFixture, monkeypatch: pytest.MonkeyPatch, settings: Any, api: Any
) -> None:
    body = uploaded(tenant_a, png(), "a.png")
    week = settings.ENGIUM_MEDIA_URL_MAX_AGE_SECONDS
    assert week == 7 * 86400
    almost = url_signed_ago(monkeypatch, tenant_a.id, body["id"], week - 60)
    assert Client().get(media_path(almost)).status_code == 200
    expired = url_signed_ago(monkeypatch, tenant_a.id, body["id"], week + 1)
    response = Client().get(media_path(expired))
    assert response.status_code == 410
    assert error_of(response)["code"] == "media_url_expired"
    assert (
        body["id"] not in response.content.decode() and tenant_a.id not in response.content.decode()
    )
    # the detail answers a fresh URL, valid again
    fresh = api.get(f"media/{body['id']}", tenant=tenant_a).json()["media_url"]
    assert Client().get(media_path(fresh)).status_code == 200
    # a shorter expiry setting applies at once
    settings.ENGIUM_MEDIA_URL_MAX_AGE_SECONDS = 30
    assert Client().get(media_path(almost)).status_code == 410


def test_a_tampered_or_foreign_url_is_one_404(
    tenant_a: TenantFixture, tenant_b: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = uploaded(tenant_a, png(), "a.png")
    path = media_path(body["media_url"])
    token = path.removeprefix("/media/")
    value, stamp, signature = token.split(":")
    other = uploaded(tenant_b, png(), "b.png")
    other_value = media_path(other["media_url"]).removeprefix("/media/").split(":")[0]
    forged = [
        f"{value}:{stamp}:{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}",
        f"{other_value}:{stamp}:{signature}",  # another file's name under this signature
        f"{value}:{stamp}",
        "not-a-token",
        django_signing.TimestampSigner(salt="another.use").sign_object(
            {"t": tenant_a.id, "m": body["id"]}
        ),
        django_signing.TimestampSigner(key="another-key-" * 4, salt=signing.SALT).sign_object(
            {"t": tenant_a.id, "m": body["id"]}
        ),
        # genuine signatures of files that do not exist, or of the wrong tenant
        signing.make_token(tenant_a.id, "med_00000000000000000000000000"),
        signing.make_token("ten_00000000000000000000000000", body["id"]),
        signing.make_token(tenant_b.id, body["id"]),
    ]
    answers = [Client().get(f"/media/{token}") for token in forged]
    assert [answer.status_code for answer in answers] == [404] * len(forged)
    bodies = {answer.content for answer in answers}
    assert len(bodies) == 1  # one answer, whatever was wrong
    assert error_of(answers[0]) == {"code": "not_found", "message": "No media at this URL."}
