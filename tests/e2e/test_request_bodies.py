"""Chunked request bodies through the real web server: read in full, or refused; never ignored."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Stack, Tenant

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


def chunked(body: bytes, size: int = 1000) -> Iterator[bytes]:
    """An iterator body: httpx sends it with `Transfer-Encoding: chunked` and no length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_a_chunked_send_is_read(stack: Stack, live_tenant: Tenant) -> None:
    body = json.dumps(
        {"recipient": "+15550102999", "channel": "sms", "message": {"text": "chunked hello"}}
    ).encode()
    answer = live_tenant.client.post(
        "conversations/send",
        content=chunked(body, 7),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["message"]["text"] == "chunked hello"


def test_a_chunked_body_over_the_limit_is_a_413(stack: Stack, live_tenant: Tenant) -> None:
    body = b'{"recipient": "' + b" " * (2 * 1024 * 1024) + b'"}'
    answer = live_tenant.client.post(
        "conversations/send",
        content=chunked(body, 64 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"]["code"] == "payload_too_large"
    assert live_tenant.client.get("conversations").json()["data"] == []


def test_a_chunked_patch_changes_what_it_says(stack: Stack, live_tenant: Tenant) -> None:
    integration = live_tenant.client.get("integrations", params={"channel": "sms"}).json()["data"][
        0
    ]
    answer = live_tenant.client.patch(
        f"integrations/{integration['id']}",
        content=chunked(json.dumps({"name": "renamed while chunked"}).encode(), 5),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"] == "renamed while chunked"
    again = live_tenant.client.get(f"integrations/{integration['id']}").json()
    assert again["name"] == "renamed while chunked"


@pytest.mark.parametrize(
    "framing",
    [
        b"zz\r\n{}\r\n0\r\n\r\n",  # a chunk size that is not hexadecimal
        b"2\r\n{}XX0\r\n\r\n",  # a chunk without its terminator
    ],
)
def test_a_broken_chunked_body_is_a_400_not_a_500(stack: Stack, framing: bytes) -> None:
    with socket.create_connection(("127.0.0.1", stack.web_port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/conversations/send HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\n\r\n" + framing
        )
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        body = answer.read()
    assert answer.status == 400, body
    assert json.loads(body)["error"]["code"] == "malformed_body"
