"""What the database would refuse of a decoded message or chat, told before it is written.

A value Postgres refuses (a NUL character in text, an integer beyond its column, a string
longer than its ``VARCHAR``) fails the whole transaction it is in, so every message of a
run or a snapshot would fail with it. Ingest asks here first, per message and per chat,
and refuses only the one that carries such a value (``ingest_ack.rejected_items``, with
one of the reason codes below). The same rules hold on SQLite, which would store most of
these values: what is stored does not depend on the engine.

The bounds follow the columns of ``ofca_message`` and ``ofca_chat``
(``persistence/tables.py``): ids are ``VARCHAR(200)``, ``media_count`` an ``INTEGER``
(int32), texts ``TEXT`` (no NUL; at most :data:`MAX_TEXT_CHARS`, far beyond any chat line,
because enrichment scores the whole text on the event loop).
"""

from __future__ import annotations

from typing import Final

from ofca.domain.money import invalid_money
from ofca.domain.onlyfans import Chat, Message

__all__ = [
    "INT32_MAX",
    "MAX_ID_CHARS",
    "MAX_TEXT_CHARS",
    "REASON_NUL",
    "REASON_OUT_OF_RANGE",
    "REASON_REFUSED",
    "REASON_TOO_LONG",
    "chat_refusal",
    "message_refusal",
]

INT32_MAX: Final = 2**31 - 1
"""The largest value of an ``INTEGER`` column (``media_count``)."""
MAX_ID_CHARS: Final = 200
"""Ids are stored as ``VARCHAR(200)`` (numbers as their decimal digits)."""
MAX_TEXT_CHARS: Final = 100_000
"""A message text longer than this is refused."""

REASON_NUL: Final = "nul_character"
"""A text or id holds U+0000, which Postgres cannot store in text."""
REASON_OUT_OF_RANGE: Final = "out_of_range"
"""An integer beyond its column (``mediaCount`` above :data:`INT32_MAX`)."""
REASON_TOO_LONG: Final = "too_long"
"""An id longer than :data:`MAX_ID_CHARS`, or a text longer than :data:`MAX_TEXT_CHARS`."""
REASON_REFUSED: Final = "refused_by_storage"
"""The database refused a value of the message that the checks here did not foresee."""


_ID_LIMIT: Final = 10**MAX_ID_CHARS
"""Numeric ids from here on have more digits than an id column holds."""


def _id_refusal(value: int | str | None) -> str | None:
    if type(value) is str:
        if "\x00" in value:
            return REASON_NUL
        return REASON_TOO_LONG if len(value) > MAX_ID_CHARS else None
    if isinstance(value, int) and value >= _ID_LIMIT:
        return REASON_TOO_LONG
    return None


def _text_refusal(value: str | None, limit: int | None = None) -> str | None:
    if value is None:
        return None
    if "\x00" in value:
        return REASON_NUL
    if limit is not None and len(value) > limit:
        return REASON_TOO_LONG
    return None


def message_refusal(message: Message) -> str | None:
    """Why ``message`` cannot be stored as it is (a reason code; malformed money fields:
    ``invalid_money: ...``, ``domain.money``), or None. About 0.3 µs
    for a valid message: snapshots ask for each of their 100k messages."""
    text = message.text
    if text is not None and ("\x00" in text or len(text) > MAX_TEXT_CHARS):
        return REASON_NUL if "\x00" in text else REASON_TOO_LONG
    if message.mediaCount > INT32_MAX:
        return REASON_OUT_OF_RANGE
    sender = message.fromUser.id if message.fromUser is not None else None
    return (
        _id_refusal(message.id)
        or _id_refusal(message.chat_id)
        or _id_refusal(sender)
        or invalid_money(message)
    )


def chat_refusal(chat: Chat) -> str | None:
    """Why ``chat`` cannot be stored as it is (a reason code), or None."""
    fan = chat.withUser
    for refusal in (
        _id_refusal(chat.chat_id),
        _id_refusal(chat.id),
        _id_refusal(fan.id),
        _text_refusal(fan.name),
        _text_refusal(fan.username),
        _text_refusal(fan.avatar),
    ):
        if refusal is not None:
            return refusal
    return None
