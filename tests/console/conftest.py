"""Console tests: members of the session's tenant A with each role, logged in."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from tenants.models import Role
from tenants.services import add_member
from tests.conftest import TenantFixture

PASSWORD = "a long enough password"


@pytest.fixture
def member(tenant_a: TenantFixture) -> Callable[[str], Client]:
    """A client logged in as a new member of tenant A with the given role."""

    def make(role: str) -> Client:
        membership = add_member(
            tenant_a.tenant, email=f"{role}@example.com", password=PASSWORD, role=role
        )
        client = Client()
        client.force_login(membership.user)
        return client

    return make


@pytest.fixture
def owner(member: Callable[[str], Client]) -> Client:
    return member(Role.OWNER)


@pytest.fixture
def viewer(member: Callable[[str], Client]) -> Client:
    return member(Role.VIEWER)
