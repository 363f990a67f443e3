"""Connecting, changing and removing channel integrations (the current tenant)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from engium.exceptions import NotFound, ValidationFailed
from engium.tenancy import current_schema
from integrations.models import (
    CallbackState,
    Integration,
    IntegrationStatus,
    ProviderCallback,
    ProviderLogEntry,
    Verification,
)
from integrations.providers.base import ConfigError, Provider
from integrations.providers.http import Exchange
from integrations.providers.registry import UnknownProvider, get_provider, provider_slugs


def _provider_for(slug: str, channel: str) -> Provider:
    try:
        provider = get_provider(slug)
    except UnknownProvider as exc:
        raise ValidationFailed(
            f"Unknown provider {slug!r}; one of {', '.join(provider_slugs())}.", field="provider"
        ) from exc
    if channel not in provider.channels:
        raise ValidationFailed(
            f"The {slug} provider does not serve the {channel} channel.", field="channel"
        )
    return provider


def _validated_config(provider: Provider, channel: str, config: dict[str, Any]) -> dict[str, Any]:
    try:
        return provider.validate_config(channel, config)
    except ConfigError as exc:
        raise ValidationFailed(str(exc), field=exc.field or "config") from exc


def connect_integration(
    *,
    channel: str,
    provider: str,
    config: dict[str, Any],
    name: str = "",
    is_default: bool | None = None,
) -> Integration:
    """Connect a channel to a provider. The channel's first integration becomes its default."""
    adapter = _provider_for(provider, channel)
    clean = _validated_config(adapter, channel, config)
    with transaction.atomic():
        _lock_channel(channel)
        has_active_default = (
            Integration.objects.select_for_update()
            .filter(channel=channel, is_default=True, status=IntegrationStatus.ACTIVE)
            .exists()
        )
        make_default = bool(is_default) or not has_active_default
        if make_default:
            Integration.objects.filter(channel=channel, is_default=True).update(is_default=False)
        integration = Integration.objects.create(
            channel=channel, provider=provider, config=clean, name=name, is_default=make_default
        )
    return integration


def update_integration(
    integration_id: str,
    *,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    status: str | None = None,
    is_default: bool | None = None,
) -> Integration:
    """Change an integration. A config update keeps secrets that it leaves out."""
    with transaction.atomic():
        integration = _locked(integration_id)
        adapter = _provider_for(integration.provider, integration.channel)
        if name is not None:
            integration.name = name
        if config is not None:
            kept = {k: v for k, v in integration.config.items() if k in adapter.secret_fields}
            integration.config = _validated_config(adapter, integration.channel, {**kept, **config})
            # New credentials are unproven until tested again.
            integration.verification = Verification.UNVERIFIED
            integration.verification_detail = ""
        if status is not None:
            integration.status = status
        if is_default:
            Integration.objects.filter(channel=integration.channel, is_default=True).exclude(
                pk=integration.pk
            ).update(is_default=False)
            integration.is_default = True
        elif is_default is False:
            integration.is_default = False
        integration.save()
        if not integration.is_default or integration.status != IntegrationStatus.ACTIVE:
            _ensure_default(integration.channel)
        # Read back under the row's lock: once committed, a concurrent removal may take it.
        integration.refresh_from_db()
    return integration


def remove_integration(integration_id: str) -> None:
    """Delete an integration; another active one of its channel becomes the default.

    Its messages keep their history; queued ones fail with ``integration_unavailable``.
    """
    with transaction.atomic():
        integration = _locked(integration_id)
        channel = integration.channel
        integration.delete()
        _ensure_default(channel)


def _lock_channel(channel: str) -> None:
    """Serialise changes to one channel's integrations (who is default) until commit.

    A row lock cannot do it: a channel's first integration has no row to lock yet.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))",
            [f"{current_schema()}:integrations:{channel}"],
        )


def _locked(integration_id: str) -> Integration:
    """The integration, locked, after its channel's lock: one lock order everywhere.

    Every change takes the channel's advisory lock first and row locks after it, as
    `connect_integration` must (a first integration has no row); taking a row lock first
    here would deadlock against it. An integration's channel never changes, so reading it
    before the lock is safe.
    """
    channel = Integration.objects.filter(pk=integration_id).values_list("channel", flat=True)
    found = channel.first()
    if found is None:
        raise NotFound("No integration with this ID exists.")
    _lock_channel(found)
    integration = Integration.objects.select_for_update().filter(pk=integration_id).first()
    if integration is None:  # removed while we waited for the lock
        raise NotFound("No integration with this ID exists.")
    return integration


def _ensure_default(channel: str) -> None:
    """Make the oldest active integration of ``channel`` its default if it has no active one."""
    if Integration.objects.filter(
        channel=channel, is_default=True, status=IntegrationStatus.ACTIVE
    ).exists():
        return
    successor = (
        Integration.objects.filter(channel=channel, status=IntegrationStatus.ACTIVE)
        .order_by("pk")
        .first()
    )
    if successor is None:
        return
    Integration.objects.filter(channel=channel, is_default=True).update(is_default=False)
    successor.is_default = True
    successor.save(update_fields=["is_default", "updated_at"])


def verify_integration(integration_id: str) -> Integration:
    """Test the integration's credentials against its provider; record the verdict.

    The verdict goes in ``verification`` (``verified`` or ``failed``, with the reason in
    ``verification_detail``); ``status`` (whether sends use it) does not change. The call to
    the provider happens outside any transaction or lock.
    """
    integration = Integration.objects.filter(pk=integration_id).first()
    if integration is None:
        raise NotFound("No integration with this ID exists.")
    adapter = _provider_for(integration.provider, integration.channel)
    check = adapter.test_connection(integration.config)
    Integration.objects.filter(pk=integration.pk).update(
        verification=Verification.VERIFIED if check.ok else Verification.FAILED,
        verification_detail=check.detail[:2000],
        verified_at=timezone.now(),
        updated_at=timezone.now(),
    )
    integration.refresh_from_db()
    return integration


REDACTED = "[redacted]"


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret value replaced (longest first, so no part survives)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


def secret_values(provider: Provider, config: dict[str, Any]) -> list[str]:
    from urllib.parse import quote, quote_plus

    values = [str(config[key]) for key in provider.secret_fields if config.get(key)]
    # form- and URL-encoded bodies carry them encoded
    return list({*values, *(quote(v, safe="") for v in values), *(quote_plus(v) for v in values)})


def record_provider_exchanges(
    logged: list[tuple[str, Integration, list[Exchange]]],
) -> None:
    """Keep the calls made for several messages (message ID, integration, its calls) in the
    provider log, secrets redacted: one INSERT."""
    hidden_by_integration: dict[str, list[str]] = {}
    entries = []
    for message_id, integration, exchanges in logged:
        hidden = hidden_by_integration.get(integration.pk)
        if hidden is None:
            try:
                adapter = _provider_for(integration.provider, integration.channel)
                hidden = secret_values(adapter, integration.config)
            except ValidationFailed:
                hidden = [
                    str(value) for value in integration.config.values() if isinstance(value, str)
                ]
            hidden_by_integration[integration.pk] = hidden
        entries += [
            ProviderLogEntry(
                message_id=message_id,
                integration=integration,
                provider=integration.provider,
                method=exchange.method,
                url=redact(exchange.url, hidden),
                request_body=redact(exchange.request_body, hidden),
                status_code=exchange.status_code,
                response_body=redact(exchange.response_body, hidden),
                error=exchange.error,
                duration_ms=exchange.duration_ms,
            )
            for exchange in exchanges
        ]
    if entries:
        ProviderLogEntry.objects.bulk_create(entries)


def purge_provider_log(*, now: datetime | None = None) -> int:
    """Delete the current tenant's provider log entries, and its applied provider callbacks,
    older than the retention; a callback still pending is kept whatever its age."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.ENGIUM_PROVIDER_LOG_DAYS)
    entries, _ = ProviderLogEntry.objects.filter(created_at__lt=cutoff).delete()
    callbacks, _ = (
        ProviderCallback.objects.filter(received_at__lt=cutoff)
        .exclude(state=CallbackState.PENDING)
        .delete()
    )
    return entries + callbacks
