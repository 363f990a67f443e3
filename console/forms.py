"""The console's forms. Provider forms map one field to one config key of the provider."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from agents.serializers import MAX_INSTRUCTIONS, MAX_KEYWORDS, MAX_NAME
from conversations.recipients import normalize_recipient
from engium.exceptions import EngiumError
from integrations.models import Channel
from message_templates.models import TemplateCategory
from message_templates.rendering import MAX_BODY_LENGTH
from message_templates.serializers import NAME_PATTERN
from tenants.models import Language, Role
from webhooks.models import SUBSCRIBABLE_EVENTS, DeliveryStatus, EventType


class EmailAuthenticationForm(AuthenticationForm):
    """Log in with the email address (members' user names are their addresses, lower case)."""

    username = forms.CharField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Please enter a correct email and password.",
    }

    def clean_username(self) -> str:
        return str(self.cleaned_data["username"]).strip().lower()


# ----------------------------------------------------------------------------------------
# Integrations
# ----------------------------------------------------------------------------------------
PROVIDER_LABELS = {
    "sandbox": "Sandbox (simulated network, no credentials)",
    "twilio": "Twilio",
    "whatsapp_cloud": "WhatsApp Cloud API (Meta)",
}


class IntegrationForm(forms.Form):
    """Fields shared by every provider; subclasses add the provider's config fields.

    ``config_fields`` name the config keys; ``secret_fields`` are write-only: rendered empty,
    and left empty on an edit they keep the stored value.
    """

    provider = ""
    config_fields: tuple[str, ...] = ()
    secret_fields: frozenset[str] = frozenset()

    name = forms.CharField(
        max_length=200, required=False, help_text="Shown in the console; e.g. “Support line”."
    )

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.editing = editing
        for key in self.secret_fields:
            field = self.fields[key]
            field.widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})
            if editing:
                field.required = False
                field.help_text = "Stored and hidden. Leave empty to keep it; type to replace it."

    def config(self) -> dict[str, Any]:
        """The config keys the user gave (empty secrets of an edit are left out: kept)."""
        values: dict[str, Any] = {}
        for key in self.config_fields:
            value = self.cleaned_data.get(key)
            if value in (None, ""):
                continue
            values[key] = value
        return values


class SandboxForm(IntegrationForm):
    provider = "sandbox"


class TwilioForm(IntegrationForm):
    provider = "twilio"
    config_fields = ("account_sid", "auth_token", "from_number", "messaging_service_sid")
    secret_fields = frozenset({"auth_token"})

    account_sid = forms.CharField(
        label="Account SID", max_length=64, help_text="AC followed by 32 hexadecimal digits."
    )
    auth_token = forms.CharField(label="Auth token", max_length=128)
    from_number = forms.CharField(
        label="From number",
        max_length=20,
        required=False,
        help_text="E.164, e.g. +15550100000. Required for Voice; else this or a messaging service.",
    )
    messaging_service_sid = forms.CharField(
        label="Messaging service SID",
        max_length=64,
        required=False,
        help_text="MG followed by 32 hexadecimal digits (instead of a from number).",
    )


class WhatsAppCloudForm(IntegrationForm):
    provider = "whatsapp_cloud"
    config_fields = (
        "phone_number_id",
        "business_account_id",
        "access_token",
        "app_secret",
        "verify_token",
        "api_version",
    )
    secret_fields = frozenset({"access_token", "app_secret", "verify_token"})

    phone_number_id = forms.CharField(
        label="Phone number ID", max_length=20, help_text="Digits, from WhatsApp Manager."
    )
    business_account_id = forms.CharField(
        label="Business account ID",
        max_length=20,
        required=False,
        help_text="Digits, from WhatsApp Manager (for your reference).",
    )
    access_token = forms.CharField(label="Access token", max_length=1000)
    app_secret = forms.CharField(
        label="App secret", max_length=200, help_text="Verifies the callbacks Meta sends."
    )
    verify_token = forms.CharField(
        label="Verify token",
        max_length=200,
        help_text="Any string you choose; paste the same into Meta's webhook settings.",
    )
    api_version = forms.CharField(
        label="Graph API version", max_length=10, required=False, help_text="e.g. v21.0"
    )


PROVIDER_FORMS: dict[str, type[IntegrationForm]] = {
    form.provider: form for form in (SandboxForm, TwilioForm, WhatsAppCloudForm)
}


class NewIntegrationChoiceForm(forms.Form):
    channel = forms.ChoiceField(choices=Channel.choices)
    provider = forms.ChoiceField(choices=list(PROVIDER_LABELS.items()))


# ----------------------------------------------------------------------------------------
# Webhooks
# ----------------------------------------------------------------------------------------
ALL_EVENTS_CHOICE = "*"


class EndpointForm(forms.Form):
    url = forms.URLField(
        label="URL", max_length=2000, assume_scheme="https", help_text="Where events are POSTed."
    )
    description = forms.CharField(max_length=500, required=False)
    events = forms.MultipleChoiceField(
        label="Events",
        choices=[(ALL_EVENTS_CHOICE, "Every event (*)")]
        + [(value, value) for value in SUBSCRIBABLE_EVENTS],
        widget=forms.CheckboxSelectMultiple,
    )


class DeliveryFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("", "Any status"), *DeliveryStatus.choices], required=False
    )
    event_type = forms.ChoiceField(
        label="Event type",
        choices=[("", "Any event type"), *[(t.value, t.value) for t in EventType]],
        required=False,
    )


REPLAY_WINDOWS = {"1": "the last 24 hours", "7": "the last 7 days", "30": "the last 30 days"}


class ReplayFailedForm(forms.Form):
    days = forms.ChoiceField(label="Failed in", choices=list(REPLAY_WINDOWS.items()))


# ----------------------------------------------------------------------------------------
# API keys, members, conversations
# ----------------------------------------------------------------------------------------
class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “CRM production”.")


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ConversationFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[
            ("", "Any status"),
            ("active", "Active"),
            ("pending_human", "Pending human"),
            ("closed", "Closed"),
        ],
        required=False,
    )
    channel = forms.ChoiceField(choices=[("", "Any channel"), *Channel.choices], required=False)
    recipient = forms.CharField(max_length=32, required=False, help_text="E.164, e.g. +15550102999")

    def clean_recipient(self) -> str:
        value = str(self.cleaned_data.get("recipient") or "").strip()
        if not value:
            return ""
        try:
            return normalize_recipient(value)
        except EngiumError as exc:
            raise forms.ValidationError(exc.message) from exc


# ----------------------------------------------------------------------------------------
# Message templates and agent roles
# ----------------------------------------------------------------------------------------
#: the languages written right to left
RTL_LANGUAGES = frozenset({Language.AR.value})


def body_field_name(language: str) -> str:
    return f"body_{language}"


class TemplateForm(forms.Form):
    """A template's name, category and one body per language (an empty body: no such
    language). The bodies are checked by `message_templates.services`; its errors land on
    the body they name (``bodies.ar`` → ``body_ar``)."""

    name = forms.RegexField(
        regex=NAME_PATTERN,
        max_length=512,
        help_text="Lowercase letters, digits and _ (WhatsApp's rule); it cannot change later.",
        error_messages={"invalid": "Use lowercase letters, digits and _ only."},
    )
    category = forms.ChoiceField(choices=TemplateCategory.choices)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.editing = editing
        if editing:
            self.fields["name"].disabled = True
            self.fields[
                "name"
            ].help_text = "WhatsApp knows a template by its name: it cannot change."
        for language, label in Language.choices:
            attrs = {"lang": language.replace("_", "-"), "rows": 5, "dir": "auto"}
            if language in RTL_LANGUAGES:
                attrs["dir"] = "rtl"
            self.fields[body_field_name(language)] = forms.CharField(
                label=f"{label} body",
                required=False,
                strip=False,
                max_length=MAX_BODY_LENGTH,
                widget=forms.Textarea(attrs=attrs),
            )

    def bodies(self) -> dict[str, str]:
        """The non-empty bodies, by language, exactly as typed."""
        return {
            language: text
            for language in Language.values
            if (text := self.cleaned_data.get(body_field_name(language)) or "").strip()
        }

    def add_service_error(self, error: EngiumError) -> None:
        field = getattr(error, "field", None) or ""
        if field.startswith("bodies."):
            field = body_field_name(field.removeprefix("bodies."))
        self.add_error(field if field in self.fields else None, error.message)


KNOWLEDGE_FIELD = re.compile(r"^knowledge-(\d{1,4})-(question|answer)$")
#: blank knowledge rows offered below the entries (more: "Add an entry", or save and edit)
BLANK_KNOWLEDGE_ROWS = 2


class AgentRoleForm(forms.Form):
    """An agent role's fields, hand-off keywords one per line, and knowledge rows
    (``knowledge-<n>-question`` / ``-answer``; a row left empty is dropped). The fields are
    checked by the agent role API's own serializer (`agents.serializers`)."""

    name = forms.CharField(max_length=MAX_NAME, strip=False)
    instructions = forms.CharField(
        max_length=MAX_INSTRUCTIONS,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6, "dir": "auto"}),
        help_text="Who the agent is and how it answers.",
    )
    language = forms.ChoiceField(
        choices=Language.choices, help_text="The language the agent answers in."
    )
    greeting = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2, "dir": "auto"}),
        help_text="Sent when a conversation starts (optional).",
    )
    handoff_keywords = forms.CharField(
        label="Hand-off keywords",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "dir": "auto"}),
        help_text=(
            f"One word or phrase per line (at most {MAX_KEYWORDS}): an inbound message "
            "containing one hands the conversation to a person."
        ),
    )

    def __init__(
        self, *args: Any, knowledge: list[dict[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if self.is_bound:
            # Every posted row (Django bounds the number of fields): too many entries are
            # refused by the serializer, never silently dropped.
            indices = sorted(
                {int(m.group(1)) for key in self.data if (m := KNOWLEDGE_FIELD.match(key))}
            )
        else:
            entries = knowledge or []
            indices = list(range(len(entries) + BLANK_KNOWLEDGE_ROWS))
            for index, entry in enumerate(entries):
                self.initial[f"knowledge-{index}-question"] = entry["question"]
                self.initial[f"knowledge-{index}-answer"] = entry["answer"]
        self.knowledge_indices = indices
        for index in indices:
            self.fields[f"knowledge-{index}-question"] = forms.CharField(
                label="Question",
                required=False,
                strip=False,
                widget=forms.TextInput(attrs={"dir": "auto"}),
            )
            self.fields[f"knowledge-{index}-answer"] = forms.CharField(
                label="Answer",
                required=False,
                strip=False,
                widget=forms.Textarea(attrs={"rows": 2, "dir": "auto"}),
            )

    @property
    def main_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in ("name", "language", "instructions", "greeting")]

    @property
    def knowledge_rows(self) -> list[tuple[int, forms.BoundField, forms.BoundField]]:
        return [
            (index, self[f"knowledge-{index}-question"], self[f"knowledge-{index}-answer"])
            for index in self.knowledge_indices
        ]

    def payload(self) -> dict[str, Any]:
        """The role as the agent role API takes it (to validate with its serializer)."""
        data = self.cleaned_data
        keywords = [line.strip() for line in data["handoff_keywords"].splitlines()]
        rows: list[tuple[int, dict[str, str]]] = []
        for index in self.knowledge_indices:
            question = data.get(f"knowledge-{index}-question") or ""
            answer = data.get(f"knowledge-{index}-answer") or ""
            if question.strip() or answer.strip():
                rows.append((index, {"question": question, "answer": answer}))
        self.knowledge_row_of_entry = [index for index, _ in rows]
        return {
            "name": data["name"],
            "instructions": data["instructions"],
            "language": data["language"],
            "greeting": data["greeting"],
            "handoff_keywords": [keyword for keyword in keywords if keyword],
            "knowledge": [entry for _, entry in rows],
        }

    def add_serializer_errors(self, errors: dict[str, Any]) -> None:
        """Put the serializer's errors on the fields (a knowledge entry's on its row)."""
        for field, problems in errors.items():
            if field == "knowledge" and isinstance(problems, dict | list):
                # by position (a dict from the list field, a list from the entry serializer)
                by_position = (
                    problems.items() if isinstance(problems, dict) else enumerate(problems)
                )
                for position, problem in by_position:
                    if isinstance(problem, dict):
                        index = self.knowledge_row_of_entry[position]
                        for part, messages in problem.items():
                            row_field = f"knowledge-{index}-{part}"
                            self.add_error(
                                row_field if row_field in self.fields else None, messages
                            )
                    elif problem:
                        texts = problem if isinstance(problem, list) else [problem]
                        self.add_error(None, [f"Knowledge: {text}" for text in texts])
                continue
            if isinstance(problems, dict):  # a list field's errors by position
                problems = [str(p) for ps in problems.values() for p in ps]
            name = field if field in self.fields else None
            messages = [str(problem) for problem in problems]
            self.add_error(name, messages if name else [f"{field}: {m}" for m in messages])
