"""Template text: variables parsed, checked and rendered; byte for byte in every language."""

from __future__ import annotations

import pytest

from message_templates.rendering import TemplateTextError, numbered, parse_variables, render
from tenants.models import Language

# One body per supported language, each with the same two variables (order differs).
BODIES = {
    "en": "Hello {{first_name}}, your order {{order_id}} has shipped.",
    "es": "Hola {{first_name}}, tu pedido {{order_id}} ya salió.",
    "pt_BR": "Olá {{first_name}}, seu pedido {{order_id}} foi enviado.",
    "fr": "Bonjour {{first_name}}, votre commande {{order_id}} est expédiée.",
    "de": "Hallo {{first_name}}, Ihre Bestellung {{order_id}} ist unterwegs.",
    "it": "Ciao {{first_name}}, il tuo ordine {{order_id}} è stato spedito.",
    "ar": "مرحبا {{first_name}}، تم شحن طلبك {{order_id}}.",
    "hi": "नमस्ते {{first_name}}, आपका ऑर्डर {{order_id}} भेज दिया गया है।",
    "id": "Halo {{first_name}}, pesanan {{order_id}} Anda telah dikirim.",
}
RENDERED = {
    "en": "Hello Ana, your order 42 has shipped.",
    "es": "Hola Ana, tu pedido 42 ya salió.",
    "pt_BR": "Olá Ana, seu pedido 42 foi enviado.",
    "fr": "Bonjour Ana, votre commande 42 est expédiée.",
    "de": "Hallo Ana, Ihre Bestellung 42 ist unterwegs.",
    "it": "Ciao Ana, il tuo ordine 42 è stato spedito.",
    "ar": "مرحبا Ana، تم شحن طلبك 42.",
    "hi": "नमस्ते Ana, आपका ऑर्डर 42 भेज दिया गया है।",
    "id": "Halo Ana, pesanan 42 Anda telah dikirim.",
}


def test_the_fixture_covers_every_supported_language() -> None:
    assert set(BODIES) == set(Language.values) == set(RENDERED)


@pytest.mark.parametrize("language", sorted(BODIES))
def test_rendering_keeps_every_byte(language: str) -> None:
    text = BODIES[language]
    assert parse_variables(text) == ["first_name", "order_id"]
    rendered = render(text, {"first_name": "Ana", "order_id": "42"})
    assert rendered.encode("utf-8") == RENDERED[language].encode("utf-8")


def test_values_are_inserted_as_given_never_rendered_again() -> None:
    values = {"name": "{{name}} مرحبا", "x": "\\1 $0"}
    assert render("Hi {{name}} {{x}} {{name}}", values) == "Hi {{name}} مرحبا \\1 $0 {{name}} مرحبا"


def test_variables_in_order_of_first_appearance_and_numbered_for_meta() -> None:
    text = "{{b}} then {{a}}, {{b}} again and {{c_1}}"
    assert parse_variables(text) == ["b", "a", "c_1"]
    assert numbered(text, parse_variables(text)) == "{{1}} then {{2}}, {{1}} again and {{3}}"
    assert parse_variables("No variables at all.") == []


@pytest.mark.parametrize(
    "text",
    [
        "Hi {{first name}}",
        "Hi {{1st}}",
        "Hi {{}}",
        "Hi {{ first_name }}",
        "Hi {{first-name}}",
        "Hi {{first_name}",
        "Hi first_name}}",
        "Hi {{nombre_ñ}}",
        " ".join(f"{{{{v{i}}}}}" for i in range(51)),
    ],
)
def test_malformed_variables_are_refused(text: str) -> None:
    with pytest.raises(TemplateTextError):
        parse_variables(text)
