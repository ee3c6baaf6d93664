"""Hand-made conversations for insights tests: messages written straight into
``ofca_message`` (precise times and directions), then the chats refreshed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec

from ofca.domain.enrichment import TopicMatcher, enrich
from ofca.domain.metrics import Direction, MessagePoint
from ofca.domain.money import message_chatter
from ofca.insights.refresh import refresh_chats
from ofca.persistence.tables import CommandRow, MessageRow
from ofca.persistence.topic_rules import matcher_for
from ofca.settings import Settings

__all__ = ["T0", "Msg", "at", "points_of", "store"]

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
"""A Monday, noon UTC."""


def at(minutes: float = 0, *, days: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(days=days, minutes=minutes, seconds=seconds)


class Msg(msgspec.Struct, kw_only=True):
    chat: str
    id: str
    at: datetime | None
    dir: Direction = "inbound"
    text: str | None = "hello"
    sentiment: float | None = None
    """Overrides VADER's score (None: computed from text)."""
    topics: tuple[str, ...] | None = None
    """Overrides the matcher's topics."""
    is_tip: bool = False
    price: float | None = None
    is_free: bool = False
    is_opened: bool = False
    operator: str | None = None
    """The extension's operator id (chatter ``ext:<id>``)."""
    operator_name: str | None = None
    command_id: str | None = None


async def store(
    account_id: str,
    messages: Sequence[Msg],
    settings: Settings,
    matcher: TopicMatcher | None = None,
    *,
    refresh: bool = True,
) -> None:
    """Write the messages, then (``refresh``) re-derive their chats' insight rows whole."""
    matcher = matcher or await matcher_for(account_id)
    now = datetime.now(UTC)
    commands = sorted({m.command_id for m in messages if m.command_id is not None})
    issued_by = (
        {
            r["command_id"]: r["issued_by"]
            for r in await CommandRow.select(CommandRow.command_id, CommandRow.issued_by).where(
                CommandRow.command_id.is_in(commands)
            )
        }
        if commands
        else {}
    )
    rows = []
    for m in messages:
        enrichment = enrich(m.text, matcher)
        sentiment = m.sentiment if m.sentiment is not None else enrichment.sentiment
        if enrichment.text is None:
            sentiment = None
        rows.append(
            MessageRow(
                account_id=account_id,
                message_id=m.id,
                chat_id=m.chat,
                direction=m.dir,
                created_at=m.at,
                text=enrichment.text,
                raw=msgspec.json.encode({"id": m.id, "text": m.text}).decode(),
                content_hash=m.id,
                sentiment=sentiment,
                topics=list(m.topics if m.topics is not None else enrichment.topics),
                enriched=True,
                ingested_at=now,
                is_tip=m.is_tip,
                price=m.price,
                is_free=m.is_free,
                is_opened=m.is_opened,
                operator_id=m.operator,
                operator_name=m.operator_name,
                command_id=m.command_id,
                # As ingest and command linking store it.
                chatter=message_chatter(m.dir, issued_by.get(m.command_id or ""), m.operator),
            )
        )
    await MessageRow.insert(*rows).run()
    if refresh:
        await refresh_chats(account_id, {m.chat for m in messages}, settings=settings)


def points_of(messages: Sequence[Msg], matcher: TopicMatcher) -> dict[str, list[MessagePoint]]:
    """The same messages as the pure domain sees them (the oracle's input)."""
    chats: dict[str, list[MessagePoint]] = {}
    for m in messages:
        if m.at is None:
            continue
        enrichment = enrich(m.text, matcher)
        sentiment = m.sentiment if m.sentiment is not None else enrichment.sentiment
        if enrichment.text is None:
            sentiment = None
        chats.setdefault(m.chat, []).append(
            MessagePoint(
                m.id,
                m.at,
                m.dir,
                sentiment,
                tuple(m.topics if m.topics is not None else enrichment.topics),
            )
        )
    return chats
