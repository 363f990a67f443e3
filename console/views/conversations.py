"""Conversations: the filtered list, and one conversation's thread, live while it changes."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from console.access import Permission, console_view
from console.forms import ConversationFilterForm
from console.views.common import page, paginate
from conversations import selectors, services
from conversations.models import ConversationStatus, MessageStatus
from engium.exceptions import EngiumError, NotFound

#: Statuses after which a message does not move on (the thread stops polling when all are).
FINAL_STATUSES = {
    MessageStatus.READ,
    MessageStatus.FAILED,
    MessageStatus.UNDELIVERED,
    MessageStatus.RECEIVED,
}


@console_view()
def conversation_list(request: HttpRequest) -> HttpResponse:
    form = ConversationFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        rows = selectors.filter_conversations({}).none()  # the form says what is wrong
    else:
        rows = selectors.filter_conversations(form.cleaned_data if form.is_bound else {})
    return page(
        request,
        "console/conversations/list.html",
        {"section": "conversations", "form": form, "page_obj": paginate(request, rows)},
    )


@console_view()
def conversation_detail(request: HttpRequest, conversation_id: str) -> HttpResponse:
    """The thread; with ``HX-Request`` only the thread, which htmx swaps in every 1.5 s."""
    try:
        conversation, thread = selectors.get_conversation(conversation_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    live = conversation.status != ConversationStatus.CLOSED or any(
        m.status not in FINAL_STATUSES for m in thread
    )
    context = {
        "section": "conversations",
        "conversation": conversation,
        "thread": thread,
        "live": live,
    }
    if getattr(request, "htmx", False):
        return page(request, "console/conversations/_thread.html", context)
    return page(request, "console/conversations/detail.html", context)


@require_POST
@console_view(write=Permission.OPERATE)
def hand_back(request: HttpRequest, conversation_id: str) -> HttpResponse:
    try:
        services.resume_agent(conversation_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except EngiumError as exc:  # not pending_human (any more)
        messages.error(request, exc.message)
    else:
        messages.success(request, "Handed back: the agent answers the next message.")
    return redirect("console:conversation", conversation_id=conversation_id)
