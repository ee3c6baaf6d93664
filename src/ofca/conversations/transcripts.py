"""Seed 004's view of a conversation: its transcript ids and fields next to ofca's.

A transcript posted to ``POST /api/v1/webhook/conversation`` is stored as the chat
``webhook:<conversationId>`` with what the sender said about it (``emailId``,
``accountId``, ``metadata``, ...) kept in the chat row's JSON (``origin``). Seed 004's
client then asks for ``GET /api/v1/conversations/<conversationId>``: the id resolves to
that chat of the caller's account, and the answer carries the seed's fields
(``conversationId``, ``emailId``, ``accountId``, ``status``, ``startTime``, ``endTime``,
``duration``, ``messageCount``, ``processedAt``) besides ofca's.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import msgspec

from ofca.conversations.queries import (
    ConversationDetail,
    chat_exists,
    chat_row,
    conversation_detail,
    origin_field_sql,
)
from ofca.domain.sources import WEBHOOK_SOURCE, webhook_chat_id
from ofca.domain.views import as_datetime
from ofca.persistence.sql import raw_sql
from ofca.settings import Settings

__all__ = [
    "SeedConversationDetail",
    "has_transcript_account",
    "resolve_chat_id",
    "seed_conversation_detail",
]


class SeedConversationDetail(ConversationDetail, kw_only=True):
    """ofca's conversation summary plus seed 004's fields (their names are its contract).

    ``status`` answers in the vocabulary of the id the caller used: by a transcript's
    ``conversationId`` (seed 004's lookup) a transcript is ``completed``; by the chat id it
    says who spoke last (``open``/``answered``/``none``), as everywhere else in ofca.
    """

    conversationId: str
    """The transcript's ``conversationId``; for chats of other sources, the chat id."""
    emailId: str | None
    """The transcript's ``emailId`` as sent (null for other sources)."""
    accountId: str | None
    """The transcript's ``accountId`` as sent: the sender's own id, not the ofca account."""
    startTime: datetime | None
    """Time of the first message with a usable time (null when there is none)."""
    endTime: datetime | None
    """Time of the last message with a usable time."""
    duration: float | None
    """Seconds: the transcript's ``metadata.duration`` as sent, else endTime - startTime."""
    messageCount: int
    """Messages stored for the conversation (with or without a usable time)."""
    processedAt: datetime | None
    """When ofca first received the conversation."""


async def resolve_chat_id(account_id: str, requested: str) -> tuple[str, bool] | None:
    """The chat a path id names: a chat id of the account, else a transcript's
    ``conversationId`` (then True); None when it is neither."""
    if await chat_exists(account_id, requested):
        return requested, False
    transcript = webhook_chat_id(requested)
    if await chat_exists(account_id, transcript):
        return transcript, True
    return None


def _origin(chat: dict[str, Any] | None) -> dict[str, Any]:
    """What the source said about the conversation (``{}`` when nothing or not JSON)."""
    if chat is None or chat.get("source") != WEBHOOK_SOURCE or not chat.get("raw"):
        return {}
    try:
        stored = json.loads(chat["raw"])
    except ValueError:
        return {}
    origin = stored.get("origin") if isinstance(stored, dict) else None
    return origin if isinstance(origin, dict) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


async def _first_receipt(account_id: str, chat_id: str, chat: dict[str, Any] | None) -> Any:
    if chat is not None and chat.get("created_at") is not None:
        return chat["created_at"]
    rows = await raw_sql(
        "SELECT min(ingested_at) AS first FROM ofca_message WHERE account_id = {} AND chat_id = {}",
        account_id,
        chat_id,
    ).run()
    return rows[0]["first"] if rows else None


async def seed_conversation_detail(
    account_id: str, chat_id: str, settings: Settings, *, by_conversation_id: bool
) -> SeedConversationDetail | None:
    """The chat's summary with seed 004's fields, or None when the account has no such chat.
    ``by_conversation_id``: the caller named it by the transcript's ``conversationId``."""
    detail = await conversation_detail(account_id, chat_id, settings)
    if detail is None:
        return None
    chat = await chat_row(account_id, chat_id)
    origin = _origin(chat)
    start = detail.first_message.created_at if detail.first_message else None
    end = detail.last_message.created_at if detail.last_message else None
    metadata = origin.get("metadata")
    duration = _number(metadata.get("duration")) if isinstance(metadata, dict) else None
    if duration is None and start is not None and end is not None:
        duration = (end - start).total_seconds()
    values = msgspec.structs.asdict(detail)
    if by_conversation_id and detail.source == WEBHOOK_SOURCE:
        values["status"] = "completed"
    conversation_id = origin.get("conversationId")
    return SeedConversationDetail(
        **values,
        conversationId=conversation_id if isinstance(conversation_id, str) else chat_id,
        emailId=_text(origin.get("emailId")),
        accountId=_text(origin.get("accountId")),
        startTime=start,
        endTime=end,
        duration=duration,
        messageCount=detail.message_counts.total,
        processedAt=as_datetime(await _first_receipt(account_id, chat_id, chat)),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


async def has_transcript_account(account_id: str, transcript_account: str) -> bool:
    """Whether a transcript of the account was sent with this ``accountId``."""
    rows = await raw_sql(
        "SELECT 1 AS found FROM ofca_chat c WHERE c.account_id = {} "
        f"AND {origin_field_sql('accountId')} = {{}} LIMIT 1",
        account_id,
        transcript_account,
    ).run()
    return bool(rows)
