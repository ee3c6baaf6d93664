"""The OnlyFans shapes the extension captures, as msgspec Structs.

These mirror what the platform's web app keeps in IndexedDB. The platform adds fields
often, so no Struct here forbids unknown fields: extra keys are ignored when decoding
(the raw JSON of each message is stored as well, see ``ofca.ingest``). Ids arrive as numbers
from the platform and as strings from other sources; both are accepted.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

__all__ = [
    "Chat",
    "ChatUser",
    "FromUser",
    "Media",
    "Message",
    "MoneyValue",
    "Operator",
    "PlatformId",
]

PlatformId = Annotated[int, Meta(ge=0)] | Annotated[str, Meta(min_length=1, max_length=200)]
"""An OnlyFans id: a non-negative integer, or a non-empty string."""

Timestamp = str | float | None
"""ISO 8601 (``Z`` or offset; naive is read as UTC) or Unix seconds. Unusable values are
kept, and the message is excluded from metrics (``excluded_messages``)."""


class ChatUser(msgspec.Struct, kw_only=True):
    """The fan of a chat (``withUser``)."""

    id: PlatformId
    name: str | None = None
    username: str | None = None
    avatar: str | None = None


class FromUser(msgspec.Struct, kw_only=True):
    """The sender of a message; the platform often sends only ``id``."""

    id: PlatformId | None = None
    name: str | None = None
    username: str | None = None


MoneyValue = Annotated[
    Any,
    Meta(
        description="A money field: price a JSON number >= 0, flags JSON booleans. Read as "
        "any JSON value so a malformed one rejects only its message (ingest_ack "
        "rejected_items, reason invalid_money), never the whole frame."
    ),
]


class Operator(msgspec.Struct, kw_only=True):
    """The agency member (chatter) logged into the extension when the message was sent."""

    id: PlatformId
    name: str | None = None


class Media(msgspec.Struct, kw_only=True):
    id: PlatformId | None = None
    type: str | None = None
    canView: bool | None = None
    src: str | None = None
    preview: str | None = None
    duration: float | None = None


class Message(msgspec.Struct, kw_only=True):
    """One chat line as captured. ``chat_id`` is added by the extension."""

    id: PlatformId
    chat_id: PlatformId | None = None
    text: str | None = None
    createdAt: Timestamp = None
    changedAt: Timestamp = None
    fromUser: FromUser | None = None
    is_inbound: bool | None = None
    is_creator: bool | None = None
    isTip: MoneyValue = False
    isFree: MoneyValue = None
    """Absent means not true: a priced outbound message without it is a PPV offer."""
    price: MoneyValue = None
    """A JSON number >= 0; checked by ``ofca.domain.money.money_problem``."""
    mediaCount: Annotated[int, Meta(ge=0)] = 0
    media: list[Media] = []
    isOpened: MoneyValue = None
    """True once the fan unlocked a PPV offer (an edit of the offer)."""
    operator: Operator | None = None
    isNew: bool | None = None
    isLiked: bool | None = None
    lockedText: bool | None = None
    canPurchase: bool | None = None


class Chat(msgspec.Struct, kw_only=True):
    """A chat thread with one fan. Its id is ``chat_id``, else ``id``, else the fan's id
    (the platform identifies a chat by the fan's user id)."""

    withUser: ChatUser
    chat_id: PlatformId | None = None
    id: PlatformId | None = None
    lastMessage: Message | None = None
    unreadMessagesCount: Annotated[int, Meta(ge=0)] | None = None
    hasUnreadTips: bool | None = None
    isMutedNotifications: bool | None = None
    lastReadMessageId: PlatformId | None = None

    @property
    def resolved_id(self) -> str:
        for value in (self.chat_id, self.id, self.withUser.id):
            if value is not None:
                return str(value)
        raise AssertionError("withUser.id is required")  # pragma: no cover
