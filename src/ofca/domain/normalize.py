"""Normalization of captured messages into the columns metrics work on
(docs/metrics.md "Messages")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import msgspec

from ofca.domain.money import money_fields
from ofca.domain.onlyfans import Chat, Message

__all__ = [
    "Direction",
    "NormalizedChat",
    "NormalizedMessage",
    "message_direction",
    "normalize_chat",
    "normalize_message",
    "parse_timestamp",
]

Direction = Literal["inbound", "outbound", "unknown"]

# Unix seconds outside this range are almost certainly milliseconds or garbage.
_MIN_EPOCH = 0.0
_MAX_EPOCH = 32503680000.0  # year 3000
_MIN_TIME = datetime.fromtimestamp(_MIN_EPOCH, tz=UTC)
_MAX_TIME = datetime.fromtimestamp(_MAX_EPOCH, tz=UTC)


def parse_timestamp(value: str | float | None) -> datetime | None:
    """An aware UTC datetime, or ``None`` when the value is not a usable time.

    ISO 8601 with ``Z`` or an offset is honoured; a naive timestamp is read as UTC;
    numbers are Unix seconds. Usable times lie from 1970 up to the year 3000.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if not _MIN_EPOCH <= value < _MAX_EPOCH:
            return None
        return datetime.fromtimestamp(value, tz=UTC)
    text = value.strip()
    if not text:
        return None
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        # Chatwoot's older docs show "2020-03-03 13:05:57 UTC".
        if text.endswith(" UTC"):
            return parse_timestamp(text[:-4])
        return None
    try:
        instant = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:  # "0001-01-01T00:00+01:00" is before year 1 in UTC
        return None
    # As for numbers: times near the calendar's ends overflow the metrics' arithmetic.
    return instant if _MIN_TIME <= instant < _MAX_TIME else None


def message_direction(message: Message, fan_id: str | None) -> Direction:
    """Direction by the first rule that applies (docs/metrics.md "Messages")."""
    if message.is_inbound is not None:
        return "inbound" if message.is_inbound else "outbound"
    if message.is_creator is not None:
        return "outbound" if message.is_creator else "inbound"
    sender = message.fromUser.id if message.fromUser is not None else None
    if sender is not None and fan_id is not None:
        return "inbound" if str(sender) == fan_id else "outbound"
    return "unknown"


class NormalizedChat(msgspec.Struct, frozen=True, kw_only=True):
    chat_id: str
    fan_id: str
    fan_name: str | None = None
    fan_username: str | None = None
    fan_avatar: str | None = None


class NormalizedMessage(msgspec.Struct, frozen=True, kw_only=True):
    """The normalized columns of one message; ``raw_text`` is the platform's text as sent."""

    message_id: str
    chat_id: str
    created_at: datetime | None
    changed_at: datetime | None
    direction: Direction
    raw_text: str | None
    from_user_id: str | None
    is_tip: bool = False
    price: float | None = None
    media_count: int = 0
    is_free: bool = False
    is_opened: bool = False
    operator_id: str | None = None
    """The extension's ``operator`` (the agency member logged into it), if reported."""
    operator_name: str | None = None


def normalize_chat(chat: Chat) -> NormalizedChat:
    fan = chat.withUser
    return NormalizedChat(
        chat_id=chat.resolved_id,
        fan_id=str(fan.id),
        fan_name=fan.name,
        fan_username=fan.username,
        fan_avatar=fan.avatar,
    )


def normalize_message(message: Message, chat_id: str, fan_id: str | None) -> NormalizedMessage:
    """Normalize ``message`` of chat ``chat_id`` whose fan is ``fan_id`` (if known)."""
    sender = message.fromUser.id if message.fromUser is not None else None
    money = money_fields(message.isTip, message.price, message.isFree, message.isOpened)
    operator = message.operator
    return NormalizedMessage(
        message_id=str(message.id),
        chat_id=chat_id,
        created_at=parse_timestamp(message.createdAt),
        changed_at=parse_timestamp(message.changedAt),
        direction=message_direction(message, fan_id),
        raw_text=message.text,
        from_user_id=None if sender is None else str(sender),
        is_tip=money.is_tip,
        price=money.price,
        media_count=max(message.mediaCount, len(message.media)),
        is_free=money.is_free,
        is_opened=money.is_opened,
        operator_id=None if operator is None else str(operator.id),
        operator_name=None if operator is None else operator.name,
    )
