"""Conversation nodes and the dashboards' ``full_sync_response``, built from storage.

Nodes are built for many chats at once (the full sync) or one (``append_message``) with
the same handful of set queries: counts and last activity per chat, the latest
:data:`FULL_SYNC_MESSAGES` messages per chat (a window function), and the latest
session and open reply run from the insight read models that ingest keeps current
(``ofca.services.sessions``).

Conversations are sorted by priority: unanswered first, the one waiting longest first, then
by last activity. At most :data:`FULL_SYNC_CONVERSATIONS` are sent; the REST API pages the
rest. Several dashboards of one account asking at once share one build.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from typing import Any

from ofca.domain.wss import (
    ConversationNode,
    FullSyncPayload,
    FullSyncResponse,
    MessageView,
    SessionView,
)
from ofca.persistence.tables import Account
from ofca.services.conversation_queries import (
    as_datetime,
    as_score,
    as_topics,
    fan_view,
    message_view,
    raw_sql,
)
from ofca.settings import Settings

__all__ = [
    "FULL_SYNC_CONVERSATIONS",
    "FULL_SYNC_MESSAGES",
    "conversation_node",
    "conversation_nodes",
    "full_sync",
    "message_by_id",
]

log = logging.getLogger(__name__)

FULL_SYNC_MESSAGES = 50
"""Latest messages per conversation in a full sync."""
LIVE_NODE_MESSAGES = 20
"""Latest messages in the node of an ``append_message``: the dashboard has the history from
its full sync, and every dashboard receives every live node, so they are kept small."""
FULL_SYNC_CONVERSATIONS = 500
"""Conversations in a full sync (highest priority first)."""

_COLUMNS = (
    "message_id, chat_id, text, created_at, changed_at, direction, sentiment, topics, "
    "is_tip, price, media_count, enriched, command_id"
)
_FAR_PAST = datetime(1970, 1, 1, tzinfo=UTC)


async def conversation_node(
    account_id: str, chat_id: str, settings: Settings | None = None
) -> ConversationNode | None:
    """One chat's node (for ``append_message``), or ``None`` when the chat is unknown."""
    nodes, _ = await _nodes(account_id, chat_id, messages=LIVE_NODE_MESSAGES)
    return nodes[0] if nodes else None


async def message_by_id(account_id: str, message_id: str) -> MessageView | None:
    rows = await raw_sql(
        f"SELECT {_COLUMNS} FROM ofca_message WHERE account_id = {{}} AND message_id = {{}}",
        account_id,
        message_id,
    ).run()
    return message_view(rows[0]) if rows else None


async def _raw(sql: str, *args: Any) -> list[dict[str, Any]]:
    return await raw_sql(sql, *args).run()


async def _together(*calls: Awaitable[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    """At once, each on its own pool connection; one after the other inside a caller's
    transaction (its one connection cannot run two queries at a time)."""
    if Account._meta.db.current_transaction.get() is not None:
        return [await call for call in calls]
    return list(await asyncio.gather(*calls))


async def _optional(sql: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of an insight read model; empty if that model is not there (yet)."""
    try:
        return await _raw(sql, *args)
    except Exception as exc:
        log.warning("full sync without read model: %s", type(exc).__name__)
        return []


def _session_view(row: dict[str, Any]) -> SessionView:
    return SessionView(
        start_at=as_datetime(row["start_at"]) or _FAR_PAST,
        end_at=as_datetime(row["end_at"]) or _FAR_PAST,
        message_count=int(row["message_count"]),
        duration_seconds=float(row["duration_seconds"]),
        silence_seconds=float(row["silence_seconds"]),
        silence_percentage=row["silence_percentage"],
        turns=int(row["turns"]),
        sentiment_score=row["sentiment_score"],
        topics=as_topics(row["topics"]),
    )


async def conversation_nodes(
    account_id: str, chat_ids: Sequence[str]
) -> dict[str, ConversationNode]:
    """The nodes of several chats with the same few queries as one (batches of deltas)."""
    unique = list(dict.fromkeys(chat_ids))
    if len(unique) == 1:
        node = await conversation_node(account_id, unique[0])
        return {} if node is None else {node.chat_id: node}
    nodes: dict[str, ConversationNode] = {}
    for start in range(0, len(unique), FULL_SYNC_CONVERSATIONS):
        found, _ = await _nodes(
            account_id, unique[start : start + FULL_SYNC_CONVERSATIONS], messages=LIVE_NODE_MESSAGES
        )
        nodes.update((node.chat_id, node) for node in found)
    return nodes


async def _nodes(
    account_id: str,
    only_chat: str | Sequence[str] | None = None,
    *,
    messages: int = FULL_SYNC_MESSAGES,
) -> tuple[list[ConversationNode], int]:
    """Nodes of the account's highest-priority chats (or of ``only_chat``: one id or at
    most :data:`FULL_SYNC_CONVERSATIONS` ids), and the number of messages without a usable
    time (excluded from metrics)."""
    where = "account_id = {}"
    args: list[Any] = [account_id]
    if isinstance(only_chat, str):
        where += " AND chat_id = {}"
        args.append(only_chat)
    elif only_chat is not None:
        where += f" AND chat_id IN ({', '.join('{}' for _ in only_chat)})"
        args.extend(only_chat)
    # Five independent queries at once (each on its own pool connection): a node for
    # append_message then costs about one round trip instead of five.
    chat_rows, stat_rows, waiting_rows, latest_rows, session_rows = await _together(
        _raw(
            "SELECT chat_id, fan_id, fan_name, fan_username, fan_avatar FROM ofca_chat "
            f"WHERE {where}",
            *args,
        ),
        _raw(
            "SELECT chat_id, COUNT(*) AS total, MAX(created_at) AS last_at, "
            "AVG(CASE WHEN direction = 'inbound' THEN sentiment END) AS fan_sentiment, "
            "SUM(CASE WHEN created_at IS NULL THEN 1 ELSE 0 END) AS untimed "
            f"FROM ofca_message WHERE {where} GROUP BY chat_id",
            *args,
        ),
        _optional(
            "SELECT chat_id, first_inbound_at FROM ofca_reply "
            f"WHERE {where} AND replied_at IS NULL",
            *args,
        ),
        _raw(
            f"SELECT {_COLUMNS} FROM (SELECT {_COLUMNS}, ROW_NUMBER() OVER ("
            "PARTITION BY chat_id ORDER BY (CASE WHEN created_at IS NULL THEN 1 ELSE 0 END), "
            "created_at DESC, message_id DESC) AS position "
            f"FROM ofca_message WHERE {where}) ranked WHERE position <= {{}}",
            *args,
            messages,
        ),
        _optional(
            "SELECT chat_id, start_at, end_at, message_count, duration_seconds, "
            "silence_seconds, silence_percentage, turns, sentiment_score, topics "
            f"FROM ofca_session WHERE {where}",
            *args,
        ),
    )
    chats = {row["chat_id"]: row for row in chat_rows}
    stats = {row["chat_id"]: row for row in stat_rows}
    waiting = {row["chat_id"]: as_datetime(row["first_inbound_at"]) for row in waiting_rows}
    chat_ids = set(chats) | set(stats)

    def priority(chat_id: str) -> tuple[int, float, float, str]:
        since = waiting.get(chat_id)
        last = as_datetime((stats.get(chat_id) or {}).get("last_at")) or _FAR_PAST
        if since is not None:
            return (0, since.timestamp(), -last.timestamp(), chat_id)
        return (1, 0.0, -last.timestamp(), chat_id)

    chosen = sorted(chat_ids, key=priority)[:FULL_SYNC_CONVERSATIONS]
    chosen_set = set(chosen)
    latest: dict[str, list[dict[str, Any]]] = {chat_id: [] for chat_id in chosen}
    for row in latest_rows:
        if row["chat_id"] in chosen_set:
            latest[row["chat_id"]].append(row)
    sessions: dict[str, dict[str, Any]] = {}
    topics: dict[str, set[str]] = {}
    for row in session_rows:
        chat_id = row["chat_id"]
        if chat_id not in chosen_set:
            continue
        topics.setdefault(chat_id, set()).update(as_topics(row["topics"]))
        current = sessions.get(chat_id)
        start = as_datetime(row["start_at"]) or _FAR_PAST
        if current is None or start > (as_datetime(current["start_at"]) or _FAR_PAST):
            sessions[chat_id] = row

    conversations: list[ConversationNode] = []
    excluded = sum(int(row["untimed"] or 0) for row in stats.values())
    for position, chat_id in enumerate(chosen):
        if position % 50 == 49:
            await asyncio.sleep(0)  # a full sync builds thousands of views: let others run
        rows = latest[chat_id]
        rows.sort(
            key=lambda r: (
                as_datetime(r["created_at"]) is None,
                as_datetime(r["created_at"]) or _FAR_PAST,
                r["message_id"],
            )
        )
        views = [message_view(row) for row in rows]
        timed = [view for view in views if view.created_at is not None]
        stat = stats.get(chat_id) or {}
        chat = chats.get(chat_id) or {"chat_id": chat_id}
        session = sessions.get(chat_id)
        conversations.append(
            ConversationNode(
                chat_id=chat_id,
                fan=fan_view(chat),
                messages=views,
                message_count=int(stat.get("total") or 0),
                last_message=timed[-1] if timed else None,
                last_activity_at=as_datetime(stat.get("last_at")),
                unanswered_since=waiting.get(chat_id),
                sentiment_score=as_score(stat.get("fan_sentiment")),
                topics=sorted(topics.get(chat_id, ())),
                session=_session_view(session) if session is not None else None,
            )
        )
    return conversations, excluded


async def _build(account_id: str, settings: Settings) -> FullSyncResponse:
    conversations, excluded = await _nodes(account_id)
    analytics = None
    try:
        from ofca.services.insights import analytics_snapshot

        analytics = await analytics_snapshot(account_id, settings)
    except ImportError:
        pass
    except Exception:
        log.exception("analytics for the full sync of %s unavailable", account_id)
    return FullSyncResponse(
        payload=FullSyncPayload(
            conversations=conversations, analytics=analytics, excluded_messages=excluded
        )
    )


_inflight: dict[str, asyncio.Task[FullSyncResponse]] = {}


async def full_sync(
    account_id: str, settings: Settings, *, shared: bool = False
) -> FullSyncResponse:
    """The account's full sync. With ``shared`` (resyncs, which every dashboard of the
    account receives at once) concurrent callers share one build; a newly connected
    dashboard builds its own, so it never misses a change made just before it subscribed."""
    if not shared:
        return await _build(account_id, settings)
    task = _inflight.get(account_id)
    if task is None:
        task = asyncio.create_task(_build(account_id, settings))
        _inflight[account_id] = task
        task.add_done_callback(lambda _: _inflight.pop(account_id, None))
    return await asyncio.shield(task)
