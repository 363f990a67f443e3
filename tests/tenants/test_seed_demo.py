"""`seed_demo`: the demo tenant of `make run`, with an owner who logs in to the console."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from tenants.management.commands import seed_demo
from tenants.models import Membership, Role

pytestmark = pytest.mark.django_db


def _seed() -> dict[str, str]:
    out = io.StringIO()
    call_command("seed_demo", "--json", stdout=out)
    return dict(json.loads(out.getvalue()))


def test_the_demo_owner_is_made_once_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seed_demo, "DEMO_FILE", tmp_path / "demo.json")

    first = _seed()
    again = _seed()

    assert first == again and first["console_email"] == "demo@example.com"
    user = get_user_model().objects.get(username="demo@example.com")
    assert user.check_password(first["console_password"])
    membership = Membership.objects.get(user=user, tenant__public_id=first["tenant_id"])
    assert membership.role == Role.OWNER
    assert json.loads((tmp_path / "demo.json").read_text()) == first
    assert ((tmp_path / "demo.json").stat().st_mode & 0o777) == 0o600
