"""Realistic payloads of the other sources: seed 004's example body and Chatwoot webhook
events modeled on Chatwoot's documented payloads (message events with the message at the
top level, ISO ``created_at`` and string ``message_type``; ``conversation.messages`` with
Unix seconds and integer ``message_type``)."""

from __future__ import annotations

import copy
from typing import Any

__all__ = [
    "chatwoot_conversation_created",
    "chatwoot_message_created",
    "webhook_body",
]


def webhook_body(
    conversation_id: str = "conv_abc123",
    transcript: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Seed 004's request body, with a short two-sided transcript."""
    return {
        "emailId": "user@example.com",
        "accountId": "acc123",
        "conversationId": conversation_id,
        "transcript": transcript
        if transcript is not None
        else [
            {
                "timestamp": "2024-01-15T10:30:00Z",
                "speaker": "user",
                "content": "Hello, I need help with my subscription",
                "messageId": "msg_123",
            },
            {
                "timestamp": "2024-01-15T10:31:30Z",
                "speaker": "agent",
                "content": "Of course! Happy to help, what is going on?",
                "messageId": "msg_124",
                "metadata": {"latencyMs": 840},
            },
            {
                "timestamp": "2024-01-15T10:33:00Z",
                "speaker": "user",
                "content": "Thanks, that is great",
                "messageId": "msg_125",
            },
        ],
        "metadata": {
            "sessionId": "sess_456",
            "agentId": "agent_01jxn7fwb2eyq8p6k4m3en4xtm",
            "duration": 300,
            "messageCount": 3,
            "platform": "web",
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
        },
    }


_CONTACT = {
    "additional_attributes": {},
    "custom_attributes": {},
    "email": "fan@example.com",
    "id": 4,
    "identifier": None,
    "name": "Jamie Fan",
    "phone_number": None,
    "thumbnail": "",
    "type": "contact",
}

_AGENT = {
    "id": 1,
    "name": "Agent Smith",
    "available_name": "Agent Smith",
    "avatar_url": "",
    "type": "user",
    "availability_status": None,
    "thumbnail": "",
    "email": "agent@example.com",
}


def _conversation(conversation_id: int, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A conversation's push data, as Chatwoot nests it in events."""
    return {
        "additional_attributes": {
            "browser": {
                "device_name": "Unknown",
                "browser_name": "Chrome",
                "platform_name": "Windows",
                "browser_version": "136.0.0.0",
                "platform_version": "10.0",
            },
            "referer": "https://example.com/pricing",
            "browser_language": "en",
        },
        "can_reply": True,
        "channel": "Channel::WebWidget",
        "contact_inbox": {
            "id": 180,
            "contact_id": 4,
            "inbox_id": 3,
            "source_id": "239a4135-0f7b-4fd5-b108-17f84e596aef",
            "created_at": "2024-01-15T10:29:40.449Z",
            "updated_at": "2024-01-15T10:30:08.459Z",
            "hmac_verified": False,
            "pubsub_token": "wfTzyNgmiE8YagFL3m4JU8Fi",
        },
        "id": conversation_id,
        "inbox_id": 3,
        "messages": messages,
        "labels": [],
        "meta": {
            "sender": _CONTACT,
            "assignee": None,
            "team": None,
            "hmac_verified": False,
        },
        "status": "open",
        "custom_attributes": {},
        "snoozed_until": None,
        "unread_count": 1,
        "first_reply_created_at": None,
        "priority": None,
        "waiting_since": 1705314600,
        "agent_last_seen_at": 0,
        "contact_last_seen_at": 0,
        "last_activity_at": 1705314600,
        "timestamp": 1705314600,
        "created_at": 1705314580,
        "updated_at": 1705314600.123,
    }


def _nested_message(
    message_id: int, conversation_id: int, content: str, message_type: int, created_at: int
) -> dict[str, Any]:
    return {
        "id": message_id,
        "content": content,
        "account_id": 2,
        "inbox_id": 3,
        "conversation_id": 9000 + conversation_id,  # the internal id, not the display id
        "message_type": message_type,
        "created_at": created_at,
        "updated_at": "2024-01-15T10:30:08.856Z",
        "private": False,
        "status": "sent",
        "source_id": None,
        "content_type": "text",
        "content_attributes": {},
        "sender_type": "Contact" if message_type == 0 else "User",
        "sender_id": 4 if message_type == 0 else 1,
        "external_source_ids": {},
        "additional_attributes": {},
        "processed_message_content": content,
        "sentiment": {},
        "conversation": {"assignee_id": None, "unread_count": 1, "last_activity_at": created_at},
    }


def chatwoot_message_created(
    *,
    message_id: int = 654,
    conversation_id: int = 207,
    content: str | None = "Hi, I love your content! Do you do custom videos?",
    message_type: str = "incoming",
    created_at: str = "2024-01-15T10:30:00.000Z",
    private: bool = False,
    event: str = "message_created",
) -> dict[str, Any]:
    """A ``message_created`` (or ``message_updated``) event: the message at the top level."""
    sender = copy.deepcopy(_CONTACT if message_type == "incoming" else _AGENT)
    unix = 1705314600
    return {
        "event": event,
        "id": message_id,
        "content": content,
        "created_at": created_at,
        "message_type": message_type,
        "content_type": "text",
        "content_attributes": {},
        "source_id": None,
        "additional_attributes": {},
        "private": private,
        "sender": sender,
        "contact": copy.deepcopy(_CONTACT),
        "conversation": _conversation(
            conversation_id,
            [
                _nested_message(
                    message_id,
                    conversation_id,
                    content or "",
                    0 if message_type == "incoming" else 1,
                    unix,
                )
            ],
        ),
        "account": {"id": 2, "name": "Creator Studio"},
        "inbox": {"id": 3, "name": "Website"},
    }


def chatwoot_conversation_created(
    *, conversation_id: int = 208, event: str = "conversation_created"
) -> dict[str, Any]:
    """A conversation event: the conversation at the top level with its messages (Unix
    seconds, integer message types: one template greeting, a fan line, an agent reply, a
    private note)."""
    messages = [
        _nested_message(700, conversation_id, "Welcome! We reply within minutes.", 3, 1705314000),
        _nested_message(701, conversation_id, "hey are you there? want a tip menu", 0, 1705314060),
        _nested_message(702, conversation_id, "Hi love! Sending it now", 1, 1705314180),
    ]
    note = _nested_message(703, conversation_id, "VIP fan, be nice", 1, 1705314200)
    note["private"] = True
    messages.append(note)
    body = _conversation(conversation_id, messages)
    body["event"] = event
    return body
