"""The console's forms. Provider forms map one field to one config key of the provider."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from conversations.recipients import normalize_recipient
from engium.exceptions import EngiumError
from integrations.models import Channel
from tenants.models import Role
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
