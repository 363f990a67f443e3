"""The built-in agent: knowledge by best match, greeting, fallback, hand-off keywords."""

from __future__ import annotations

import pytest

from agents import builtin, phrases
from agents.roles import KnowledgeEntry, RoleSpec
from agents.text import normalize, words
from tenants.models import Language

SPANISH = (
    KnowledgeEntry("¿Cuál es el horario de atención?", "Abrimos de 9 a 18 h."),
    KnowledgeEntry("¿Cuánto cuesta el envío?", "El envío cuesta 5 €."),
    KnowledgeEntry("¿Aceptan tarjetas de crédito?", "Sí, Visa y Mastercard."),
)
ENGLISH = (
    KnowledgeEntry("When do you open?", "Every day from 9 to 6."),
    KnowledgeEntry("Do you ship abroad?", "Yes, worldwide."),
    KnowledgeEntry("What payment methods do you accept?", "Cards and PayPal."),
)


def role(language: str = "en", **kwargs: object) -> RoleSpec:
    return RoleSpec(name="Ana", instructions="Help.", language=language, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("message", "answer"),
    [
        ("Hola, ¿qué HORARIOS tienen?", "Abrimos de 9 a 18 h."),
        ("cuanto cuesta enviar un paquete", "El envío cuesta 5 €."),
        ("¿puedo pagar con tarjeta?", "Sí, Visa y Mastercard."),
    ],
)
def test_spanish_questions_find_their_answer_whatever_the_accents(
    message: str, answer: str
) -> None:
    match = builtin.best_match(SPANISH, message, "es")
    assert match is not None and match.entry.answer == answer


@pytest.mark.parametrize(
    ("message", "answer"),
    [
        ("Hi, what are your opening hours?", "Every day from 9 to 6."),
        ("Can you ship to Canada?", "Yes, worldwide."),
        ("Can I pay with PayPal?", "Cards and PayPal."),
    ],
)
def test_english_questions_find_their_answer(message: str, answer: str) -> None:
    match = builtin.best_match(ENGLISH, message, "en")
    assert match is not None and match.entry.answer == answer


@pytest.mark.parametrize(
    ("language", "entries", "message", "answer"),
    [
        (
            "pt_BR",
            (
                KnowledgeEntry("Qual é o prazo de entrega?", "Entregamos em 3 dias úteis."),
                KnowledgeEntry("Como faço uma devolução?", "Pelo site, em até 7 dias."),
            ),
            "Em quantos dias vocês fazem a ENTREGA?",
            "Entregamos em 3 dias úteis.",
        ),
        (
            "fr",
            (
                KnowledgeEntry("Quels sont vos horaires d'ouverture ?", "De 9 h à 18 h."),
                KnowledgeEntry("Livrez-vous à l'étranger ?", "Oui, partout."),
            ),
            "bonjour, vos horaires svp",
            "De 9 h à 18 h.",
        ),
        (
            "de",
            (KnowledgeEntry("Wie lange dauert der Versand?", "Zwei Tage."),),
            "wie lange dauert versand nach österreich",
            "Zwei Tage.",
        ),
        (
            "ar",
            (KnowledgeEntry("ما هي ساعات العمل؟", "نعمل من ٩ إلى ٥"),),
            "أريد معرفة ساعات العمل",
            "نعمل من ٩ إلى ٥",
        ),
        (
            "hi",
            (KnowledgeEntry("डिलीवरी में कितना समय लगता है?", "तीन दिन।"),),
            "डिलीवरी कब होगी",
            "तीन दिन।",
        ),
        (
            "id",
            (KnowledgeEntry("Berapa ongkos kirim?", "Gratis di atas Rp100.000."),),
            "ongkos kirim ke Bandung berapa?",
            "Gratis di atas Rp100.000.",
        ),
    ],
)
def test_other_languages_find_their_answer(
    language: str, entries: tuple[KnowledgeEntry, ...], message: str, answer: str
) -> None:
    match = builtin.best_match(entries, message, language)
    assert match is not None and match.entry.answer == answer


@pytest.mark.parametrize(
    "message", ["me gusta el fútbol", "", "???", "🙂🙂", "ok", "مرحبا", "नमस्ते"]
)
def test_unrelated_or_empty_messages_match_nothing(message: str) -> None:
    assert builtin.best_match(SPANISH, message, "es") is None


def test_the_greeting_answers_a_first_message_that_matches_nothing() -> None:
    spec = role("es", greeting="¡Hola! Soy Ana.", knowledge=SPANISH)

    first = builtin.answer(spec, "buenas", first_message=True)
    later = builtin.answer(spec, "buenas", first_message=False)
    known = builtin.answer(spec, "¿qué horario tienen?", first_message=True)

    assert (first.source, first.text) == ("greeting", "¡Hola! Soy Ana.")
    assert (later.source, later.text) == ("fallback", phrases.FALLBACK["es"])
    assert (known.source, known.text) == ("knowledge", "Abrimos de 9 a 18 h.")


def test_without_greeting_or_knowledge_the_fallback_answers() -> None:
    answer = builtin.answer(role("de"), "Hallo", first_message=True)
    assert (answer.source, answer.text) == ("fallback", phrases.FALLBACK["de"])


def test_every_supported_language_has_its_phrases() -> None:
    assert set(phrases.FALLBACK) == set(Language.values)
    assert set(phrases.HANDOFF_ACKNOWLEDGEMENT) == set(Language.values)
    assert len(set(phrases.FALLBACK.values())) == len(Language.values)
    assert phrases.fallback("xx") == phrases.FALLBACK["en"]


@pytest.mark.parametrize(
    ("keywords", "message", "found"),
    [
        (["human"], "I want a HUMAN please", "human"),
        (["human"], "humanity is great", None),
        (
            ["hablar con una persona"],
            "Quiero HABLAR con UNA persona, por favor",
            "hablar con una persona",
        ),
        (["atención al cliente"], "necesito atencion al cliente", "atención al cliente"),
        (["humano"], "Quero falar com um humano!", "humano"),
        (["إنسان"], "أريد التحدث إلى انسان", "إنسان"),
        (["इंसान"], "मुझे इंसान से बात करनी है", "इंसान"),
        (["agent", "human"], "no thanks", None),
        (["human"], "", None),
    ],
)
def test_handoff_keywords_match_whole_words_in_any_case_and_accents(
    keywords: list[str], message: str, found: str | None
) -> None:
    assert builtin.find_handoff_keyword(keywords, message) == found


def test_normalisation_folds_case_and_accents_and_keeps_indic_vowel_signs() -> None:
    assert normalize("Qué HORARIO, Ação, Straße") == "que horario, acao, strasse"
    assert words("أُريدُ") == ["اريد"]
    assert words("मुझे इंसान") == ["मुझे", "इंसान"]
