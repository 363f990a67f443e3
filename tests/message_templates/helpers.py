"""Builders for template tests: create through the API, assert the 201."""

from __future__ import annotations

from typing import Any

from tests.conftest import ApiClient, TenantFixture

ORDER_BODIES = {
    "en": "Hello {{first_name}}, your order {{order_id}} has shipped.",
    "es": "Hola {{first_name}}, tu pedido {{order_id}} ya salió.",
    "pt_BR": "Olá {{first_name}}, seu pedido {{order_id}} foi enviado.",
    "ar": "مرحبا {{first_name}}، تم شحن طلبك {{order_id}}.",
    "hi": "नमस्ते {{first_name}}, आपका ऑर्डर {{order_id}} भेज दिया गया है।",
}
VARIABLES = {"first_name": "Ana", "order_id": "42"}


def create_template_ok(
    api: ApiClient,
    tenant: TenantFixture,
    *,
    name: str = "order_update",
    category: str = "utility",
    bodies: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    response = api.post(
        "templates",
        tenant=tenant,
        json_body={
            "name": name,
            "category": category,
            "bodies": ORDER_BODIES if bodies is None else bodies,
            **extra,
        },
    )
    assert response.status_code == 201, response.content
    body: dict[str, Any] = response.json()
    return body


def send_template(
    api: ApiClient, tenant: TenantFixture, template: dict[str, Any], **body: Any
) -> Any:
    return api.send(tenant, message={"template": template}, **body)
