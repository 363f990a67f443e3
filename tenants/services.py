"""Writes on tenants, keys and members. Everything here runs in the public schema."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from engium.exceptions import NotFound, ValidationFailed
from engium.ids import new_id
from engium.tenancy import use_public_schema
from tenants import keys
from tenants.models import ApiKey, Membership, Plan, Role, Tenant


@dataclass(frozen=True)
class IssuedKey:
    """A freshly created key: ``raw_key`` exists only here and is never stored."""

    api_key: ApiKey
    raw_key: str


def create_tenant(
    *,
    name: str,
    plan: str = Plan.FREE,
    rate_limit: int | None = None,
    default_language: str = "en",
    owner_email: str | None = None,
    owner_password: str | None = None,
) -> tuple[Tenant, IssuedKey]:
    """Create a tenant, its schema (migrated), a first API key and optionally its owner.

    The schema is created by django-tenants inside `Tenant.save()`; the whole call is one
    transaction, so a failure leaves neither rows nor schema behind.
    """
    use_public_schema()
    public_id = new_id("ten")
    with transaction.atomic():
        tenant = Tenant(
            public_id=public_id,
            schema_name="t_" + public_id.removeprefix("ten_"),
            name=name,
            plan=plan,
            rate_limit=rate_limit,
            default_language=default_language,
        )
        tenant.save(verbosity=0)
        issued = create_api_key(tenant, name="Default key")
        if owner_email:
            add_member(tenant, email=owner_email, password=owner_password, role=Role.OWNER)
    use_public_schema()
    return tenant, issued


def create_api_key(tenant: Tenant, *, name: str) -> IssuedKey:
    raw_key = keys.generate_key()
    api_key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        prefix=keys.visible_prefix(raw_key),
        key_hash=keys.hash_key(raw_key),
    )
    return IssuedKey(api_key=api_key, raw_key=raw_key)


def revoke_api_key(api_key: ApiKey) -> ApiKey:
    """Revoke a key; revoking a revoked key keeps its first revocation time.

    The key fails authentication from the next request on in this process, and within
    ``ENGIUM_LOCAL_CACHE_SECONDS`` in the others (`tenants.signals` drops the cache entry).
    The row is locked, so two revocations at once agree on the time.
    """
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
    api_key.revoked_at = locked.revoked_at
    return api_key


def add_member(tenant: Tenant, *, email: str, password: str | None, role: str) -> Membership:
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=email.lower(), defaults={"email": email.lower()}
    )
    if created or password:
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
    membership, _ = Membership.objects.update_or_create(
        user=user, tenant=tenant, defaults={"role": role}
    )
    return membership


def set_tenant_active(tenant: Tenant, *, active: bool) -> Tenant:
    """Suspend (``active=False``) or reactivate a tenant; its API requests get 403 meanwhile.

    Takes effect like a revocation (see `revoke_api_key`). Work already accepted, such as
    queued deliveries, goes on.
    """
    tenant.is_active = active
    # django-tenants saves a tenant only from its own schema or `public`; callers may be in
    # another tenant's (an API request, a task), and stay there.
    with schema_context(get_public_schema_name()):
        tenant.save(update_fields=["is_active", "updated_at"])
    return tenant


def change_member_role(tenant: Tenant, membership_id: int, *, role: str) -> Membership:
    """Give a member another role; the tenant's last owner stays an owner (`ValidationFailed`)."""
    with transaction.atomic():
        membership = _locked_membership(tenant, membership_id)
        if membership.role == Role.OWNER and role != Role.OWNER:
            _keep_an_owner(tenant, leaving=membership)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def remove_member(tenant: Tenant, membership_id: int) -> None:
    """Remove a member from the tenant (the user stays); never its last owner
    (`ValidationFailed`)."""
    with transaction.atomic():
        membership = _locked_membership(tenant, membership_id)
        if membership.role == Role.OWNER:
            _keep_an_owner(tenant, leaving=membership)
        membership.delete()


def _locked_membership(tenant: Tenant, membership_id: int) -> Membership:
    """The tenant's membership, after locking all its owners' rows: two owners removing
    each other at once are serialised, and the second sees it would leave none."""
    use_public_schema()
    list(Membership.objects.select_for_update().filter(tenant=tenant, role=Role.OWNER))
    membership = (
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(tenant=tenant, pk=membership_id)
        .first()
    )
    if membership is None:
        raise NotFound("No member with this ID exists.")
    return membership


def _keep_an_owner(tenant: Tenant, *, leaving: Membership) -> None:
    others = Membership.objects.filter(tenant=tenant, role=Role.OWNER).exclude(pk=leaving.pk)
    if not others.exists():
        raise ValidationFailed(
            "A tenant keeps at least one owner: make another member owner first.", field="role"
        )
