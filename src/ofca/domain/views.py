"""How stored rows become what dashboards see: the one builder of :class:`MessageView`.

Rows come from either engine (an asyncpg ``Record`` or a Piccolo dict: SQLite gives times
computed in SQL as text, JSON columns as text, booleans as 0/1) or from a record just
written (``StoredMessage`` columns): the converters here read all of them alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ofca.domain.wss import FanView, MessageView, SessionView

__all__ = [
    "TopicsOf",
    "as_datetime",
    "as_score",
    "as_topics",
    "fan_view",
    "message_view",
    "session_view",
]

TopicsOf = Callable[[Any], list[str]]
"""Reads a stored topics value (a JSON array as text, or a list)."""


def as_datetime(value: Any) -> datetime | None:
    """A column value as an aware datetime (SQLite returns expressions as text)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def as_score(value: Any) -> float | None:
    """A mean computed in SQL, to 9 decimals (as the insights round them): the last bits of
    a floating-point mean depend on the order the rows were summed in, which differs
    between engines and between queries."""
    return None if value is None else round(float(value), 9)


def as_topics(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = json.loads(value) if value else []
    return [str(item) for item in value]


def fan_view(row: Mapping[str, Any]) -> FanView:
    return FanView(
        id=row.get("fan_id") or row["chat_id"],
        name=row.get("fan_name"),
        username=row.get("fan_username"),
        avatar=row.get("fan_avatar"),
    )


def message_view(row: Mapping[str, Any], topics: TopicsOf = as_topics) -> MessageView:
    """A stored message as dashboards see it: a row of ``ofca_message`` (with at least
    ``message_id``, ``chat_id``, ``text``, ``created_at`` and ``direction``; a missing
    optional column reads as its default), or a record's columns plus its ``command_id``.
    ``topics`` reads the stored topics (a caching reader for builds of many views)."""
    return MessageView(
        id=row["message_id"],
        chat_id=row["chat_id"],
        text=row["text"],
        created_at=as_datetime(row["created_at"]),
        changed_at=as_datetime(row.get("changed_at")),
        direction=row["direction"],
        sentiment=row.get("sentiment"),
        topics=topics(row.get("topics")),
        is_tip=bool(row.get("is_tip")),
        price=row.get("price"),
        media_count=int(row.get("media_count") or 0),
        enriched=bool(row.get("enriched")),
        command_id=row.get("command_id"),
        is_free=bool(row.get("is_free")),
        is_opened=bool(row.get("is_opened")),
    )


def session_view(row: Mapping[str, Any], topics: TopicsOf = as_topics) -> SessionView | None:
    """A row of ``ofca_session`` as a chat's latest session; ``None`` when the row has no
    session (an outer join found none)."""
    start, end = as_datetime(row["start_at"]), as_datetime(row["end_at"])
    if start is None or end is None:
        return None
    return SessionView(
        start_at=start,
        end_at=end,
        message_count=int(row["message_count"]),
        duration_seconds=float(row["duration_seconds"]),
        silence_seconds=float(row["silence_seconds"]),
        silence_percentage=as_score(row["silence_percentage"]),
        turns=int(row["turns"]),
        sentiment_score=as_score(row["sentiment_score"]),
        topics=topics(row["topics"]),
    )
