"""Fake Twilio and Graph (WhatsApp Cloud) APIs on 127.0.0.1, answering in their real formats.

Each is a `ScriptedServer` whose default answer is the provider's "accepted" answer built
from the recorded fixture (`tests/fixtures/<provider>/…`) with a fresh message ID, so that
every send gets an ID of its own; tests queue error answers from the fixtures too.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.http_server import Received, Reply, ScriptedServer

FIXTURES = Path(__file__).parent / "fixtures"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-0123456789abcdef"
PHONE_NUMBER_ID = "106540352242922"
ACCESS_TOKEN = "EAAG-graph-access-token-0123456789"
APP_SECRET = "meta-app-secret-0123456789abcdef"
VERIFY_TOKEN = "meta-verify-token-0123456789"
BUSINESS_ACCOUNT_ID = "102290129340398"


def fixture(provider: str, name: str) -> Any:
    """A recorded payload: ``tests/fixtures/<provider>/<event>__<variant>.json``."""
    return json.loads((FIXTURES / provider / f"{name}.json").read_text())


def form_of(received: Received) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(received.body.decode()).items()}


def basic_auth_of(received: Received) -> tuple[str, str]:
    scheme, _, encoded = received.headers.get("Authorization", "").partition(" ")
    assert scheme == "Basic"
    user, _, password = base64.b64decode(encoded).decode().partition(":")
    return user, password


class FakeTwilio(ScriptedServer):
    """Messages.json and Calls.json answer 201 with a new SID, and list what they took (newest
    first, filtered by ``To`` and ``From``); the Account answers 200."""

    def __init__(self) -> None:
        super().__init__()
        self.default = Reply(status=201, body=self._created)
        self.last_sid = ""
        self.created: dict[str, list[dict[str, Any]]] = {"messages": [], "calls": []}

    def _created(self, received: Received) -> Any:
        path = urlsplit(received.path).path
        kind = "calls" if path.endswith("/Calls.json") else "messages"
        if received.method == "GET":
            if path.endswith(("/Messages.json", "/Calls.json")):
                return self._listed(kind, received)
            return fixture("twilio", "account__fetch")
        form = form_of(received)
        if kind == "calls":
            answer = fixture("twilio", "call_created__queued")
            answer["sid"] = "CA" + secrets.token_hex(16)
        else:
            answer = fixture("twilio", "message_created__queued")
            answer["sid"] = "SM" + secrets.token_hex(16)
            answer["body"] = form.get("Body", "")
        self.last_sid = answer["sid"]
        answer.update(to=form.get("To", ""), **{"from": form.get("From", "")})
        answer["date_created"] = format_datetime(datetime.now(UTC))
        self.created[kind].append(answer)
        return answer

    def _listed(self, kind: str, received: Received) -> Any:
        query = {k: v[0] for k, v in parse_qs(urlsplit(received.path).query).items()}
        matching = [
            item
            for item in reversed(self.created[kind])
            if item["to"] == query.get("To", item["to"])
            and item["from"] == query.get("From", item["from"])
        ]
        return {kind: matching[: int(query.get("PageSize", "50"))]}

    def sends(self) -> list[Received]:
        """The requests that created a message or a call."""
        return [r for r in self.received if r.method == "POST"]

    def config(self, **extra: Any) -> dict[str, Any]:
        return {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "from_number": "+15557122661",
            "base_url": self.url,
            **extra,
        }


class FakeGraph(ScriptedServer):
    """``/{version}/{phone number ID}/messages`` answers 200 with a new wamid;
    ``/{version}/{WABA ID}/message_templates`` creates a pending template (POST) or lists
    ``templates`` (GET), and ``/{version}/{template ID}`` (an edit) answers success."""

    def __init__(self) -> None:
        super().__init__()
        self.default = Reply(status=200, body=self._answer)
        self.last_wamid = ""
        #: what a template listing answers (``data`` rows in Graph's format)
        self.templates: list[dict[str, Any]] = []

    def _answer(self, received: Received) -> Any:
        path = received.path.split("?")[0]
        if path.endswith("/message_templates"):
            if received.method == "GET":
                return {"data": self.templates, "paging": {"cursors": {"after": "MAZDZD"}}}
            answer = fixture("whatsapp_cloud", "template_created__pending")
            answer["id"] = str(secrets.randbelow(10**15) + 10**15)
            answer["category"] = json.loads(received.body).get("category", "")
            return answer
        if received.method == "POST" and not path.endswith("/messages"):
            return {"success": True}
        if received.method == "GET":
            return fixture("whatsapp_cloud", "phone_number__fetch")
        answer = fixture("whatsapp_cloud", "message_created__accepted")
        answer["messages"][0]["id"] = self.last_wamid = "wamid." + secrets.token_hex(20)
        answer["contacts"][0]["input"] = json.loads(received.body).get("to", "")
        return answer

    def config(self, **extra: Any) -> dict[str, Any]:
        return {
            "phone_number_id": PHONE_NUMBER_ID,
            "access_token": ACCESS_TOKEN,
            "app_secret": APP_SECRET,
            "verify_token": VERIFY_TOKEN,
            "base_url": self.url,
            **extra,
        }
