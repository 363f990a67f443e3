"""`build` gives the instance `Model.__init__` gives, for every model of the project."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.db.models import Model, signals
from django.utils import timezone

from conversations.models import Conversation, Message
from engium.instances import build


def _fields(instance: Model) -> dict[str, Any]:
    return {name: value for name, value in instance.__dict__.items() if name != "_state"}


def _without_computed_defaults(model: type[Model], instance: Model) -> dict[str, Any]:
    # Computed defaults (new UUIDs, times) differ from one call to the next by design.
    computed = {f.attname for f in model._meta.concrete_fields if callable(f.default)}
    return {name: value for name, value in _fields(instance).items() if name not in computed}


@pytest.mark.parametrize("model", apps.get_models(), ids=lambda model: f"{model._meta.label}")
def test_a_built_instance_is_the_one_init_makes(model: type[Model]) -> None:
    built = build(model)
    made = model()
    assert _without_computed_defaults(model, built) == _without_computed_defaults(model, made)
    assert set(_fields(built)) == set(_fields(made))
    assert (built._state.adding, built._state.db) == (made._state.adding, made._state.db)


def test_a_message_built_from_values_is_the_one_init_makes() -> None:
    now = timezone.now()
    values = {
        "id": "msg_01jd8x0000000000000000000a",
        "conversation_id": "sess_01jd8x0000000000000000000a",
        "direction": "outbound",
        "channel": "sms",
        "recipient": "+15550102999",
        "integration_id": "int_01jd8x0000000000000000000a",
        "status": "queued",
        "text": "Hello",
        "template": {"id": "tpl_1"},
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }
    built = build(Message, **values)
    assert _fields(built) == _fields(Message(**values))
    assert built.conversation_id == values["conversation_id"]
    assert built.template is values["template"]


def test_computed_defaults_are_computed_for_each_instance() -> None:
    callable_defaults = [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if callable(field.default) and field.default in (dict, list)
    ]
    assert callable_defaults, "some model has a dict or list default"
    model, field = callable_defaults[0]
    first, second = build(model), build(model)
    assert getattr(first, field.attname) == field.default()
    assert getattr(first, field.attname) is not getattr(second, field.attname)


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(TypeError, match="no field conversation"):
        build(Message, conversation=Conversation())


def test_a_model_watched_by_init_signals_is_built_by_init() -> None:
    seen: list[Any] = []

    def watch(sender: type[Model], instance: Model, **kwargs: Any) -> None:
        seen.append(instance)

    signals.post_init.connect(watch, sender=Conversation)
    try:
        built = build(Conversation, channel="sms")
    finally:
        signals.post_init.disconnect(watch, sender=Conversation)
    assert seen == [built]
