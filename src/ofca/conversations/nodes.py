"""A chat's :class:`ConversationNode`: the one statement that summarizes chats, and the one
builder of a node from its row.

The summary is what the inbox shows of a chat besides its messages: fan, message count,
last message and activity, fan sentiment, the open reply wait, the latest session and the
session topics. One statement reads it for any number of chats, the same on both engines
(Postgres runs it as a prepared statement on a pool connection; SQLite through Piccolo).
The full sync (``conversations.full_sync``: with each chat's latest messages) and live
``append_message`` (``conversations.live_nodes``: with the message the change brought)
both build their nodes here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import msgspec
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

from ofca.domain.money import tier_of
from ofca.domain.triage import DEFAULT_TRIAGE
from ofca.domain.views import (
    TopicsOf,
    as_datetime,
    as_score,
    as_topics,
    fan_view,
    message_view,
    session_view,
)
from ofca.domain.wss import ConversationNode, MessageView
from ofca.persistence.chat_tally import TALLY_OF_CHAT
from ofca.persistence.sql import Row, fetch_rows, numbered

__all__ = ["chat_summaries", "summarized_node"]

_LAST = (
    "message_id",
    "text",
    "created_at",
    "changed_at",
    "direction",
    "sentiment",
    "topics",
    "is_tip",
    "price",
    "media_count",
    "enriched",
    "command_id",
    "is_free",
    "is_opened",
)
_SESSION = (
    "start_at",
    "end_at",
    "message_count",
    "duration_seconds",
    "silence_seconds",
    "silence_percentage",
    "turns",
    "sentiment_score",
    "topics",
)

_SPEND = (
    "SELECT SUM(p.price) FROM ofca_message p WHERE p.account_id = c.account_id "
    "AND p.chat_id = c.chat_id AND (p.is_tip OR p.price > 0) AND p.price > 0 "
    "AND p.created_at IS NOT NULL AND ((p.direction = 'inbound' AND p.is_tip) OR "
    "(p.direction = 'outbound' AND NOT p.is_tip AND NOT p.is_free AND p.is_opened))"
)
"""The chat's lifetime spend: its tips' amounts and its purchased PPV offers' prices."""

# ``{}`` are parameters in order; CHATS is the engine's "chat_id is one of a list" test.
_SUMMARY = (
    "SELECT c.chat_id, c.fan_id, c.fan_name, c.fan_username, c.fan_avatar, "
    "s.total, s.last_at, s.fan_sentiment, "
    "(SELECT MIN(r.first_inbound_at) FROM ofca_reply r WHERE r.account_id = c.account_id "
    "AND r.chat_id = c.chat_id AND r.replied_at IS NULL) AS unanswered_since, "
    f"({_SPEND}) AS lifetime_spend, "
    "(SELECT TOPICS FROM ofca_session_topic t WHERE t.account_id = c.account_id "
    "AND t.chat_id = c.chat_id) AS chat_topics, "
    + ", ".join(f"l.{column} AS l_{column}" for column in _LAST)
    + ", "
    + ", ".join(f"x.{column} AS x_{column}" for column in _SESSION)
    + " FROM ofca_chat c "
    "LEFT JOIN COUNTS "
    "LEFT JOIN ofca_message l ON l.id = (SELECT m.id FROM ofca_message m "
    "WHERE m.account_id = c.account_id AND m.chat_id = c.chat_id AND m.created_at IS NOT NULL "
    "ORDER BY m.created_at DESC, m.message_id DESC LIMIT 1) "
    # chat_id in the ORDER BY: only the (account, chat, start) index gives this order, so
    # the planner cannot pick the (account, start) one and filter the account's sessions.
    "LEFT JOIN ofca_session x ON x.id = (SELECT y.id FROM ofca_session y "
    "WHERE y.account_id = c.account_id AND y.chat_id = c.chat_id "
    "ORDER BY y.chat_id DESC, y.start_at DESC LIMIT 1) "
    "WHERE c.account_id = {} AND c.chat_id CHATS"
)
_COUNTED = (
    "COUNT(*) AS total, MAX(a.created_at) AS last_at, "
    "AVG(CASE WHEN a.direction = 'inbound' THEN a.sentiment END) AS fan_sentiment "
    "FROM ofca_message a"
)
# Postgres reads each chat's count, fan sentiment and spend off its tally (m0026): counting
# a 2,600-message chat's rows cost ~4 ms right after a snapshot (every index entry visited
# the heap) and a publication of 50 such chats 200-600 ms. Its last activity is its last
# message's time (the latest ``created_at``, the index's end).
_PG_SUMMARY = (
    _SUMMARY.replace("COUNTS", f"LATERAL ({TALLY_OF_CHAT}) s ON TRUE")
    .replace("s.last_at", "l.created_at AS last_at")
    .replace(f"({_SPEND}) AS lifetime_spend", "s.spend AS lifetime_spend")
    .replace("{} AND c.chat_id CHATS", "{} AND c.chat_id = ANY({}::varchar[])")
    .replace("TOPICS", "string_agg(DISTINCT t.topic, ',')")
)
_PG_SUMMARY_NUMBERED = numbered(_PG_SUMMARY)
_SQLITE_SUMMARY = (
    _SUMMARY.replace(
        "COUNTS",
        f"(SELECT a.chat_id, {_COUNTED} WHERE a.account_id = {{}} "
        "AND a.chat_id IN (SELECT value FROM json_each({})) GROUP BY a.chat_id) s "
        "ON s.chat_id = c.chat_id",
    )
    .replace("CHATS", "IN (SELECT value FROM json_each({}))")
    .replace("TOPICS", "group_concat(DISTINCT t.topic)")
)


async def chat_summaries(
    engine: Engine[Any], account_id: str, chat_ids: Sequence[str]
) -> Sequence[Row]:
    """One summary row per stored chat among ``chat_ids`` (no row for an unknown chat)."""
    if isinstance(engine, PostgresEngine):
        chats = list(chat_ids)
        return await fetch_rows(_PG_SUMMARY, account_id, chats, prepared=_PG_SUMMARY_NUMBERED)
    encoded = msgspec.json.encode(list(chat_ids)).decode()
    return await fetch_rows(_SQLITE_SUMMARY, account_id, encoded, account_id, encoded)


class _Prefixed(Mapping[str, Any]):
    """The columns of a summary row named ``<prefix><column>``, as ``<column>`` (the row's
    last message and latest session), with the row's ``chat_id``."""

    __slots__ = ("_prefix", "_row")

    def __init__(self, row: Row, prefix: str) -> None:
        self._row = row
        self._prefix = prefix

    def __getitem__(self, key: str) -> Any:
        return self._row["chat_id" if key == "chat_id" else self._prefix + key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._row.get("chat_id" if key == "chat_id" else self._prefix + key, default)

    def __iter__(self) -> Iterator[str]:
        size = len(self._prefix)
        keys = self._row.keys()
        return (key[size:] for key in keys if key.startswith(self._prefix))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def summarized_node(
    row: Row,
    messages: list[MessageView],
    topics: TopicsOf = as_topics,
    whale_spend: float = DEFAULT_TRIAGE.whale_spend,
) -> ConversationNode:
    """The node of a chat from its summary row, holding ``messages``."""
    spend = round(float(row["lifetime_spend"] or 0.0), 9)
    last = _Prefixed(row, "l_")
    chat_topics = row["chat_topics"]
    return ConversationNode(
        chat_id=row["chat_id"],
        fan=fan_view(row),
        messages=messages,
        message_count=int(row["total"] or 0),
        last_message=None if last["message_id"] is None else message_view(last, topics),
        last_activity_at=as_datetime(row["last_at"]),
        unanswered_since=as_datetime(row["unanswered_since"]),
        sentiment_score=as_score(row["fan_sentiment"]),
        topics=sorted(chat_topics.split(",")) if chat_topics else [],
        session=session_view(_Prefixed(row, "x_"), topics),
        lifetime_spend=spend,
        tier=tier_of(spend, whale_spend),
    )
