"""The overview: a tenant's sends, rates and rate-limit headroom at a glance."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from console import selectors
from console.access import console, console_view
from console.charts import stacked_bars
from console.views.common import page
from conversations.views import SEND_LIMITER
from integrations.models import Channel


@console_view()
def overview(request: HttpRequest) -> HttpResponse:
    tenant = console(request).tenant
    data = selectors.overview()
    charts = [
        stacked_bars(label, data.days, data.sends.get(channel, {}))
        for channel, label in Channel.choices
    ]
    limit = tenant.effective_rate_limit
    used = SEND_LIMITER.usage(tenant.public_id)
    headroom = None if used is None else max(limit - used, 0)
    return page(
        request,
        "console/overview.html",
        {
            "section": "overview",
            "data": data,
            "charts": charts,
            "rate_limit": limit,
            "rate_used": used,
            "rate_headroom": headroom,
            "rate_headroom_percent": None if headroom is None else round(100 * headroom / limit),
        },
    )
