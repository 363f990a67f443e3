"""Conversations API: send, read, close. Views parse and render; services decide."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from conversations import selectors, services
from conversations.serializers import (
    ConversationListQuery,
    MessageListQuery,
    SendMessageSerializer,
    render_conversation,
    render_message,
    render_send_result,
)
from engium.api.pagination import paginate
from engium.api.views import EngiumAPIView


class SendMessageView(EngiumAPIView):
    @extend_schema(
        request=SendMessageSerializer,
        responses={201: OpenApiResponse(description="The conversation with the queued message.")},
        summary="Send a message",
    )
    def post(self, request: Request) -> Response:
        data = self.parse_body(SendMessageSerializer)
        content = data["message"]
        message = services.send_message(
            recipient=data["recipient"],
            channel=data["channel"],
            content=services.MessageContent(
                text=content.get("text", ""),
                media_url=content.get("media_url", ""),
                media_type=content.get("media_type", ""),
                template=content.get("template"),
            ),
            agent_role_id=str(data["agent_role_id"]) if data.get("agent_role_id") else None,
        )
        return Response(render_send_result(message), status=status.HTTP_201_CREATED)


class ConversationListView(EngiumAPIView):
    @extend_schema(parameters=[ConversationListQuery], summary="List conversations")
    def get(self, request: Request) -> Response:
        query = self.parse_query(ConversationListQuery)
        page = paginate(
            selectors.filter_conversations(query),
            query,
            lambda rows: [render_conversation(row) for row in rows],
        )
        return Response(page)


class ConversationDetailView(EngiumAPIView):
    @extend_schema(summary="A conversation with its latest 100 messages")
    def get(self, request: Request, conversation_id: str) -> Response:
        conversation, messages = selectors.get_conversation(conversation_id)
        return Response(render_conversation(conversation, messages=messages))


class CloseConversationView(EngiumAPIView):
    @extend_schema(request=None, summary="Close a conversation")
    def post(self, request: Request, conversation_id: str) -> Response:
        conversation = services.close_conversation(conversation_id)
        return Response(render_conversation(conversation))


class MessageListView(EngiumAPIView):
    @extend_schema(parameters=[MessageListQuery], summary="List messages")
    def get(self, request: Request) -> Response:
        query = self.parse_query(MessageListQuery)
        page = paginate(
            selectors.filter_messages(query),
            query,
            lambda rows: [render_message(row) for row in rows],
        )
        return Response(page)


class MessageDetailView(EngiumAPIView):
    @extend_schema(summary="A message with its status history")
    def get(self, request: Request, message_id: str, **kwargs: Any) -> Response:
        return Response(render_message(selectors.get_message(message_id)))
