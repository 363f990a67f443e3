"""Reads for the console's overview (the current tenant's schema)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from conversations.models import Message, MessageDirection
from integrations.models import Channel
from webhooks.models import Delivery, DeliveryStatus

OVERVIEW_DAYS = 30
#: Statuses of a send that reached the recipient.
DELIVERED = ("delivered", "read")
#: Statuses after the provider took the send (the base of the delivery rate).
SETTLED = ("sent", "delivered", "read", "undelivered", "failed")


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int

    @property
    def percent(self) -> float | None:
        if not self.denominator:
            return None
        return round(100 * self.numerator / self.denominator, 1)


@dataclass(frozen=True)
class Overview:
    days: list[date]
    #: channel → day → status → count of outbound messages created that day
    sends: dict[str, dict[date, dict[str, int]]]
    delivery_rate: Rate
    read_rate: Rate
    webhook_success: Rate


def overview(*, days: int = OVERVIEW_DAYS) -> Overview:
    """Outbound sends per day, channel and status over the last ``days`` days, the rates."""
    today = timezone.now().date()
    first = today - timedelta(days=days - 1)
    day_list = [first + timedelta(days=n) for n in range(days)]
    rows = (
        Message.objects.filter(direction=MessageDirection.OUTBOUND, created_at__date__gte=first)
        .annotate(day=TruncDate("created_at"))
        .values("day", "channel", "status")
        .annotate(n=Count("id"))
    )
    sends: dict[str, dict[date, dict[str, int]]] = {c: defaultdict(dict) for c in Channel.values}
    by_status: dict[str, int] = defaultdict(int)
    for row in rows:
        sends.setdefault(row["channel"], defaultdict(dict))[row["day"]][row["status"]] = row["n"]
        by_status[row["status"]] += row["n"]
    settled = sum(by_status[s] for s in SETTLED)
    delivered = sum(by_status[s] for s in DELIVERED)
    whatsapp_delivered = sum(sends["whatsapp"][d].get(s, 0) for d in day_list for s in DELIVERED)
    whatsapp_read = sum(sends["whatsapp"][d].get("read", 0) for d in day_list)
    outcomes = dict(
        Delivery.objects.filter(created_at__date__gte=first)
        .exclude(status=DeliveryStatus.PENDING)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    succeeded = outcomes.get(DeliveryStatus.SUCCEEDED, 0)
    return Overview(
        days=day_list,
        sends={channel: dict(per_day) for channel, per_day in sends.items()},
        delivery_rate=Rate(delivered, settled),
        # Only WhatsApp reports reads: the read rate is over its delivered sends.
        read_rate=Rate(whatsapp_read, whatsapp_delivered),
        webhook_success=Rate(succeeded, succeeded + outcomes.get(DeliveryStatus.FAILED, 0)),
    )
