"""The conversation node of an ``append_message``: the chat's summary from one query, and
the message the change brought (from the rows just written, never re-read).

Every dashboard of the account receives every node, so a node carries only what changed
(``ConversationNode.messages``: the new or edited message) plus the chat's current
summary: fan, message count, last message and activity, fan sentiment, the open reply
wait, the latest session and the session topics. Those come from one statement for all the
chats of a batch, the same on both engines (Postgres runs it as a prepared statement on a
pool connection; SQLite through Piccolo). The summary fields mean what they mean in the
full sync (``ofca.conversations.full_sync``); ``tests/ingest/test_live_nodes.py`` holds the
two to the same values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

from ofca.conversations.queries import (
    MESSAGE_VIEW_COLUMNS,
    as_datetime,
    as_score,
    as_topics,
    fan_view,
    message_view,
)
from ofca.domain.wss import (
    AppendMessage,
    AppendMessagePayload,
    ConversationNode,
    MessageView,
    SessionView,
    outgoing_encoder,
)
from ofca.persistence.sql import Row, database, fetch_rows, numbered, raw_sql

__all__ = ["LiveFeed", "append_frames", "live_nodes"]

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

# ``{}`` are parameters in order; CHATS is the engine's "chat_id is one of a list" test.
_SUMMARY = (
    "SELECT c.chat_id, c.fan_id, c.fan_name, c.fan_username, c.fan_avatar, "
    "s.total, s.last_at, s.fan_sentiment, "
    "(SELECT MIN(r.first_inbound_at) FROM ofca_reply r WHERE r.account_id = c.account_id "
    "AND r.chat_id = c.chat_id AND r.replied_at IS NULL) AS unanswered_since, "
    "(SELECT TOPICS FROM ofca_session_topic t WHERE t.account_id = c.account_id "
    "AND t.chat_id = c.chat_id) AS chat_topics, "
    + ", ".join(f"l.{column} AS l_{column}" for column in _LAST)
    + ", "
    + ", ".join(f"x.{column} AS x_{column}" for column in _SESSION)
    + " FROM ofca_chat c "
    "LEFT JOIN (SELECT chat_id, COUNT(*) AS total, MAX(created_at) AS last_at, "
    "AVG(CASE WHEN direction = 'inbound' THEN sentiment END) AS fan_sentiment "
    "FROM ofca_message WHERE account_id = {} AND chat_id CHATS GROUP BY chat_id) s "
    "ON s.chat_id = c.chat_id "
    "LEFT JOIN ofca_message l ON l.id = (SELECT m.id FROM ofca_message m "
    "WHERE m.account_id = c.account_id AND m.chat_id = c.chat_id AND m.created_at IS NOT NULL "
    "ORDER BY m.created_at DESC, m.message_id DESC LIMIT 1) "
    "LEFT JOIN ofca_session x ON x.id = (SELECT y.id FROM ofca_session y "
    "WHERE y.account_id = c.account_id AND y.chat_id = c.chat_id ORDER BY y.start_at DESC LIMIT 1) "
    "WHERE c.account_id = {} AND c.chat_id CHATS"
)


_PG_SUMMARY = _SUMMARY.replace("CHATS", "= ANY({}::varchar[])").replace(
    "TOPICS", "string_agg(DISTINCT t.topic, ',')"
)
_PG_SUMMARY_NUMBERED = numbered(_PG_SUMMARY)
_SQLITE_SUMMARY = _SUMMARY.replace("CHATS", "IN (SELECT value FROM json_each({}))").replace(
    "TOPICS", "group_concat(DISTINCT t.topic)"
)


async def _summaries(
    engine: Engine[Any], account_id: str, chat_ids: Sequence[str]
) -> Sequence[Row]:
    chats: Any = list(chat_ids)
    if isinstance(engine, PostgresEngine):
        return await fetch_rows(
            _PG_SUMMARY, account_id, chats, account_id, chats, prepared=_PG_SUMMARY_NUMBERED
        )
    chats = msgspec.json.encode(chats).decode()
    return await fetch_rows(_SQLITE_SUMMARY, account_id, chats, account_id, chats)


def _last_message(row: Mapping[str, Any], chat_id: str) -> MessageView | None:
    if row["l_message_id"] is None:
        return None
    return MessageView(
        id=row["l_message_id"],
        chat_id=chat_id,
        text=row["l_text"],
        created_at=as_datetime(row["l_created_at"]),
        changed_at=as_datetime(row["l_changed_at"]),
        direction=row["l_direction"],
        sentiment=row["l_sentiment"],
        topics=as_topics(row["l_topics"]),
        is_tip=bool(row["l_is_tip"]),
        price=row["l_price"],
        media_count=int(row["l_media_count"] or 0),
        enriched=bool(row["l_enriched"]),
        command_id=row["l_command_id"],
    )


def _session(row: Mapping[str, Any]) -> SessionView | None:
    start, end = as_datetime(row["x_start_at"]), as_datetime(row["x_end_at"])
    if start is None or end is None:
        return None
    return SessionView(
        start_at=start,
        end_at=end,
        message_count=int(row["x_message_count"]),
        duration_seconds=float(row["x_duration_seconds"]),
        silence_seconds=float(row["x_silence_seconds"]),
        silence_percentage=as_score(row["x_silence_percentage"]),
        turns=int(row["x_turns"]),
        sentiment_score=as_score(row["x_sentiment_score"]),
        topics=as_topics(row["x_topics"]),
    )


async def live_nodes(
    engine: Engine[Any], account_id: str, chat_ids: Sequence[str]
) -> dict[str, ConversationNode]:
    """The current nodes of these chats, read after their batch is committed, with empty
    ``messages`` (the caller puts in the messages it just wrote). A chat deleted meanwhile
    has none."""
    if not chat_ids:
        return {}
    nodes: dict[str, ConversationNode] = {}
    for row in await _summaries(engine, account_id, chat_ids):
        chat_id = row["chat_id"]
        topics = row["chat_topics"]
        nodes[chat_id] = ConversationNode(
            chat_id=chat_id,
            fan=fan_view(dict(row)),
            messages=[],
            message_count=int(row["total"] or 0),
            last_message=_last_message(row, chat_id),
            last_activity_at=as_datetime(row["last_at"]),
            unanswered_since=as_datetime(row["unanswered_since"]),
            sentiment_score=as_score(row["fan_sentiment"]),
            topics=sorted(topics.split(",")) if topics else [],
            session=_session(row),
        )
    return nodes


def append_frames(
    nodes: Mapping[str, ConversationNode], changes: Sequence[tuple[MessageView, bool]]
) -> list[bytes]:
    """Encoded ``append_message`` per ``(message, edited)``, in order, each with its chat's
    node holding that message (a chat without a node, deleted meanwhile, gets none)."""
    return [
        outgoing_encoder.encode(
            AppendMessage(
                payload=AppendMessagePayload(
                    conversation=msgspec.structs.replace(nodes[view.chat_id], messages=[view]),
                    message=view,
                    edited=edited,
                )
            )
        )
        for view, edited in changes
        if view.chat_id in nodes
    ]


class LiveFeed:
    """What ingest publishes for stored messages (``ingest.context.ConversationFeed``)."""

    async def append_frames(
        self, account_id: str, changes: Sequence[tuple[MessageView, bool]]
    ) -> list[bytes]:
        chat_ids = sorted({view.chat_id for view, _ in changes})
        return append_frames(await live_nodes(database(), account_id, chat_ids), changes)

    async def stored_views(
        self, account_id: str, message_ids: Sequence[str]
    ) -> dict[str, MessageView]:
        if not message_ids:
            return {}
        rows = await raw_sql(
            f"SELECT {MESSAGE_VIEW_COLUMNS} FROM ofca_message WHERE account_id = {{}} "
            f"AND message_id IN ({', '.join('{}' for _ in message_ids)})",
            account_id,
            *message_ids,
        ).run()
        return {row["message_id"]: message_view(row) for row in rows}
