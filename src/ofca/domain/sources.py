"""Other sources of chat lines, mapped onto the shapes the extension sends (pure).

Two sources exist besides the browser extension:

* the conversation webhook (``POST /api/v1/webhook/conversation``): a whole
  transcript per request;
* Chatwoot's account webhooks (``POST /api/v1/integrations/chatwoot/{account_id}``), in
  the shapes real senders use (tests/sources/payloads.py).

Both are mapped onto :class:`ofca.domain.onlyfans.Chat` / :class:`Message` with an explicit
``is_inbound``, so they go through exactly the same ingest path (storage, enrichment,
sessions, live events) as the extension's frames. Ids are namespaced by source
(``webhook:...``, ``chatwoot:...``) so they can never collide with OnlyFans ids, which are
plain numbers. A mapping is deterministic: the same payload gives the same Structs, so a
re-delivery hashes the same and ingest reports it as a duplicate.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from ofca.domain.normalize import parse_timestamp
from ofca.domain.onlyfans import Chat, ChatUser, FromUser, Message

__all__ = [
    "CHATWOOT_SOURCE",
    "WEBHOOK_SOURCE",
    "ChatwootConversation",
    "ChatwootEvent",
    "ChatwootMessage",
    "ConversationWebhook",
    "MappedBatch",
    "TranscriptMessage",
    "canonical_time",
    "chatwoot_chat_id",
    "chatwoot_event_decoder",
    "chatwoot_event_kind",
    "map_chatwoot_event",
    "map_conversation_webhook",
    "webhook_chat_id",
    "webhook_decoder",
]

WEBHOOK_SOURCE = "webhook"
CHATWOOT_SOURCE = "chatwoot"

Id = int | Annotated[str, Meta(min_length=1, max_length=150)]
"""Ids of other systems: numbers or strings (Chatwoot's older docs send ``"1"``)."""
TimeValue = str | float | None
"""ISO 8601 text (``Z``/offset; naive = UTC; ``... UTC`` as in Chatwoot's older docs) or Unix
seconds."""


class MappedBatch(msgspec.Struct, kw_only=True):
    """What a payload maps to: chats and messages in the extension's shapes."""

    chats: list[Chat] = []
    messages: list[Message] = []
    ignored: int = 0
    """Lines that are not chat lines (private notes, activity/template messages, empty)."""
    origin: dict[str, Any] = {}
    """Chat id -> what the source said about the conversation besides its lines (the
    webhook's ``accountId``, ``metadata``, ``summary``; Chatwoot's inbox and status), kept
    with the stored chat."""


# --------------------------------------------------------------------------- conversation webhook


class TranscriptMessage(msgspec.Struct, kw_only=True):
    timestamp: str
    speaker: Annotated[str, Meta(min_length=1, max_length=40)]
    """``user`` (the fan: inbound) or ``agent`` (outbound); anything else: unknown direction."""
    content: Annotated[str, Meta(max_length=100_000)]
    messageId: Annotated[str, Meta(min_length=1, max_length=150)]
    metadata: dict[str, Any] | None = None


class ConversationMetadata(msgspec.Struct, kw_only=True):
    agentId: str
    duration: Annotated[int, Meta(ge=0)]
    messageCount: Annotated[int, Meta(ge=0)]
    platform: str
    userAgent: str
    sessionId: str | None = None


class ConversationWebhook(msgspec.Struct, kw_only=True):
    """Seed 004's ``ConversationEndData``. ``accountId`` is the caller's own identifier: it is
    kept in the stored chat JSON; the ofca account is the one of the authenticating key."""

    emailId: Annotated[str, Meta(min_length=1, max_length=200)]
    accountId: Annotated[str, Meta(min_length=1, max_length=200)]
    conversationId: Annotated[str, Meta(min_length=1, max_length=150)]
    transcript: Annotated[list[TranscriptMessage], Meta(max_length=10_000)]
    metadata: ConversationMetadata
    summary: Any | None = None


webhook_decoder: msgspec.json.Decoder[ConversationWebhook] = msgspec.json.Decoder(
    ConversationWebhook
)


def webhook_chat_id(conversation_id: str) -> str:
    return f"{WEBHOOK_SOURCE}:{conversation_id}"


_SPEAKER_INBOUND = {"user": True, "agent": False}


def map_conversation_webhook(body: ConversationWebhook) -> MappedBatch:
    """One chat (``webhook:<conversationId>``) whose fan is the ``emailId``; one message per
    transcript line (``webhook:<conversationId>:<messageId>``)."""
    chat_id = webhook_chat_id(body.conversationId)
    fan_id = f"{WEBHOOK_SOURCE}:{body.emailId}"
    chat = Chat(
        chat_id=chat_id,
        withUser=ChatUser(id=fan_id, name=body.emailId, username=body.emailId),
    )
    messages: list[Message] = []
    seen: set[str] = set()
    for line in body.transcript:
        message_id = f"{chat_id}:{line.messageId}"
        if message_id in seen:
            continue  # a transcript that repeats a line counts it once
        seen.add(message_id)
        is_inbound = _SPEAKER_INBOUND.get(line.speaker.strip().lower())
        messages.append(
            Message(
                id=message_id,
                chat_id=chat_id,
                text=line.content,
                createdAt=canonical_time(line.timestamp),
                fromUser=FromUser(id=fan_id if is_inbound else None, name=line.speaker),
                is_inbound=is_inbound,
            )
        )
    origin = {
        "source": WEBHOOK_SOURCE,
        "emailId": body.emailId,
        "accountId": body.accountId,
        "conversationId": body.conversationId,
        "metadata": body.metadata,
        "summary": body.summary,
    }
    return MappedBatch(chats=[chat], messages=messages, origin={chat_id: origin})


# --------------------------------------------------------------------------- Chatwoot


class ChatwootSender(msgspec.Struct, kw_only=True):
    id: Id | None = None
    name: str | None = None
    email: str | None = None
    type: str | None = None
    """``contact`` (the fan) or ``user`` / ``agent_bot`` (the creator's side)."""
    avatar_url: str | None = None
    thumbnail: str | None = None
    identifier: str | None = None


class ChatwootMessage(msgspec.Struct, kw_only=True):
    """A message, at the top level of a message event or inside ``conversation.messages``.

    ``message_type`` is a string at the top level and an integer (0 incoming, 1 outgoing,
    2 activity, 3 template) inside ``conversation.messages``; both are accepted, as are
    both time forms."""

    id: Id
    content: str | None = None
    message_type: str | int | None = None
    content_type: str | None = None
    private: bool = False
    created_at: TimeValue = None
    updated_at: TimeValue = None
    sender: ChatwootSender | None = None
    sender_type: str | None = None
    attachments: list[dict[str, Any]] = []


class ChatwootMeta(msgspec.Struct, kw_only=True):
    sender: ChatwootSender | None = None


class ChatwootConversation(msgspec.Struct, kw_only=True):
    """The conversation push data; its ``id`` is the display id agents see."""

    id: Id | None = None
    display_id: Id | None = None
    inbox_id: Id | None = None
    status: str | None = None
    messages: list[ChatwootMessage] = []
    meta: ChatwootMeta | None = None
    timestamp: TimeValue = None


class ChatwootEvent(msgspec.Struct, kw_only=True):
    """Any Chatwoot webhook body. Message events carry the message at the top level (``id``
    is then the message id); conversation events carry the conversation at the top level."""

    event: Annotated[str, Meta(min_length=1, max_length=100)]
    id: Id | None = None
    content: str | None = None
    message_type: str | int | None = None
    content_type: str | None = None
    private: bool = False
    created_at: TimeValue = None
    updated_at: TimeValue = None
    sender: ChatwootSender | None = None
    contact: ChatwootSender | None = None
    conversation: ChatwootConversation | None = None
    attachments: list[dict[str, Any]] = []
    # Conversation events (the conversation itself at the top level).
    display_id: Id | None = None
    inbox_id: Id | None = None
    status: str | None = None
    messages: list[ChatwootMessage] = []
    meta: ChatwootMeta | None = None
    timestamp: TimeValue = None


chatwoot_event_decoder: msgspec.json.Decoder[ChatwootEvent] = msgspec.json.Decoder(ChatwootEvent)

MESSAGE_EVENTS = frozenset({"message_created", "message_updated"})
CONVERSATION_EVENTS = frozenset(
    {"conversation_created", "conversation_status_changed", "conversation_updated"}
)

_TYPE_NAMES = {0: "incoming", 1: "outgoing", 2: "activity", 3: "template"}


def canonical_time(value: TimeValue) -> TimeValue:
    """One spelling per instant (ISO 8601 UTC), so the same message sent once with Unix
    seconds and once with ISO text stores identically; unusable values pass through (they
    are stored and excluded from metrics)."""
    parsed = parse_timestamp(value)
    return value if parsed is None else parsed.isoformat().replace("+00:00", "Z")


def _message_kind(value: str | int | None) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _TYPE_NAMES.get(value)
    return value.strip().lower() if value else None


def chatwoot_chat_id(conversation_id: int | str) -> str:
    return f"{CHATWOOT_SOURCE}:{conversation_id}"


def _fan(
    conversation: ChatwootConversation | None,
    contact: ChatwootSender | None,
    sender: ChatwootSender | None,
) -> ChatwootSender | None:
    if conversation is not None and conversation.meta is not None and conversation.meta.sender:
        return conversation.meta.sender
    if contact is not None and contact.id is not None:
        return contact
    if sender is not None and (sender.type or "").lower() == "contact":
        return sender
    return None


def _chat(chat_id: str, fan: ChatwootSender | None) -> Chat:
    if fan is None or fan.id is None:
        # No contact in the payload: the conversation stands for its fan.
        return Chat(chat_id=chat_id, withUser=ChatUser(id=f"{chat_id}:contact"))
    return Chat(
        chat_id=chat_id,
        withUser=ChatUser(
            id=f"{CHATWOOT_SOURCE}:contact:{fan.id}",
            name=fan.name,
            username=fan.email or fan.identifier or None,
            avatar=fan.avatar_url or fan.thumbnail or None,
        ),
    )


def _message(
    chat: Chat,
    message_id: Id,
    kind: str | None,
    private: bool,
    content: str | None,
    created_at: TimeValue,
    attachments: list[dict[str, Any]],
) -> Message | None:
    """The chat line, or ``None`` for what is not one (notes, activity, template)."""
    if private or kind not in ("incoming", "outgoing"):
        return None
    is_inbound = kind == "incoming"
    # Only what every event carries for this message goes in: the nested copies inside
    # ``conversation.messages`` often lack the sender, and a field that comes and goes
    # would make a re-delivery look like an edit.
    return Message(
        id=f"{CHATWOOT_SOURCE}:{message_id}",
        chat_id=chat.resolved_id,
        text=content,
        createdAt=canonical_time(created_at),
        fromUser=FromUser(id=chat.withUser.id) if is_inbound else None,
        is_inbound=is_inbound,
        mediaCount=len(attachments),
    )


def _nested_messages(chat: Chat, conversation: ChatwootConversation) -> tuple[list[Message], int]:
    found: list[Message] = []
    ignored = 0
    for item in conversation.messages:
        mapped = _message(
            chat,
            item.id,
            _message_kind(item.message_type),
            item.private,
            item.content,
            item.created_at,
            item.attachments,
        )
        if mapped is None:
            ignored += 1
        else:
            found.append(mapped)
    return found, ignored


def _origin(conversation_id: Id, conversation: ChatwootConversation | None) -> dict[str, Any]:
    return {
        "source": CHATWOOT_SOURCE,
        "conversation_id": conversation_id,
        "inbox_id": conversation.inbox_id if conversation is not None else None,
        "status": conversation.status if conversation is not None else None,
    }


EventKind = Literal["message", "conversation", "ignored"]


def chatwoot_event_kind(event: ChatwootEvent) -> EventKind:
    if event.event in MESSAGE_EVENTS:
        return "message"
    if event.event in CONVERSATION_EVENTS:
        return "conversation"
    return "ignored"


def map_chatwoot_event(event: ChatwootEvent) -> MappedBatch | None:
    """The chats/messages an event carries; ``None`` for events ofca does not use (they are
    acknowledged and ignored) or payloads without a conversation to attach lines to."""
    kind = chatwoot_event_kind(event)
    if kind == "message":
        conversation = event.conversation
        conversation_id = None
        if conversation is not None:
            conversation_id = (
                conversation.id if conversation.id is not None else conversation.display_id
            )
        if conversation_id is None or event.id is None:
            return None
        chat = _chat(chatwoot_chat_id(conversation_id), _fan(conversation, event.contact, None))
        origin = {chat.resolved_id: _origin(conversation_id, conversation)}
        message = _message(
            chat,
            event.id,
            _message_kind(event.message_type),
            event.private,
            event.content,
            event.created_at,
            event.attachments,
        )
        if message is None:
            return MappedBatch(chats=[chat], ignored=1, origin=origin)
        return MappedBatch(chats=[chat], messages=[message], origin=origin)
    if kind == "conversation":
        conversation_id = event.id if event.id is not None else event.display_id
        if conversation_id is None:
            return None
        conversation = ChatwootConversation(
            id=conversation_id,
            inbox_id=event.inbox_id,
            status=event.status,
            messages=event.messages,
            meta=event.meta,
            timestamp=event.timestamp,
        )
        chat = _chat(chatwoot_chat_id(conversation_id), _fan(conversation, event.contact, None))
        messages, ignored = _nested_messages(chat, conversation)
        return MappedBatch(
            chats=[chat],
            messages=messages,
            ignored=ignored,
            origin={chat.resolved_id: _origin(conversation_id, conversation)},
        )
    return None
