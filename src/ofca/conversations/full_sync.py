"""Conversation nodes and the dashboards' ``full_sync_response``, built from storage.

Nodes are built for many chats at once (the full sync) or one (``append_message``) with
the same handful of set queries: counts and last activity per chat, the latest
:data:`FULL_SYNC_MESSAGES` messages per chat (a window function), and the latest
session and open reply run from the insight read models that ingest keeps current
(``ofca.insights.projector``).

Conversations are sent in the inbox's default order (``ofca.domain.triage``): fans waiting
within the triage horizon first, ranked by their wait against the SLA, then the rest by last
activity. At most :data:`FULL_SYNC_CONVERSATIONS` are sent, so they are the chats a chatter
sees first; the REST API pages the rest. The full sync reads the per-chat summaries first
and the messages and sessions of the chosen chats only, as asyncpg records straight from
the pool on a served Postgres (Piccolo turns every row into a dict first: that alone held
the event loop for 100+ ms per build).

Builds of one account run one at a time, and every dashboard asking while one runs shares
the next one (see :func:`full_sync`): 50 dashboards connecting at once cost two builds, not
fifty, and each still gets everything committed before it asked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from piccolo.engine.postgres import PostgresEngine

from ofca.conversations.queries import (
    as_datetime,
    as_score,
    as_topics,
    fan_view,
)
from ofca.domain.insights import AnalyticsSnapshot
from ofca.domain.triage import DEFAULT_TRIAGE, Triage, triage_key
from ofca.domain.wss import (
    ConversationNode,
    FullSyncPayload,
    FullSyncResponse,
    MessageView,
    SessionView,
    outgoing_encoder,
)
from ofca.loop import GcPause
from ofca.persistence.sql import Row, fetch_rows
from ofca.persistence.tables import Account
from ofca.settings import Settings

__all__ = [
    "FULL_SYNC_CONVERSATIONS",
    "FULL_SYNC_MESSAGES",
    "FullSyncs",
    "conversation_node",
    "conversation_nodes",
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


def _chat_filter(chat_ids: Sequence[str]) -> tuple[str, Any]:
    """``chat_id`` is one of ``chat_ids``, and its one parameter: one statement text for any
    number of chats (prepared once on Postgres)."""
    if isinstance(Account._meta.db, PostgresEngine):
        return "chat_id = ANY({}::varchar[])", list(chat_ids)
    return "chat_id IN (SELECT value FROM json_each({}))", msgspec.json.encode(
        list(chat_ids)
    ).decode()


async def _together(*calls: Awaitable[Sequence[Row]]) -> list[Sequence[Row]]:
    """At once, each on its own pool connection; one after the other inside a caller's
    transaction (its one connection cannot run two queries at a time)."""
    if Account._meta.db.current_transaction.get() is not None:
        return [await call for call in calls]
    return list(await asyncio.gather(*calls))


async def _optional(sql: str, *args: Any) -> Sequence[Row]:
    """Rows of an insight read model; empty if that model is not there (yet)."""
    try:
        return await fetch_rows(sql, *args)
    except Exception as exc:
        log.warning("full sync without read model: %s", type(exc).__name__)
        return []


class _Topics:
    """Topic lists of one build, decoded once per distinct stored value (most messages share
    a handful of topic sets; ``json.loads`` per row was most of a build's Python time)."""

    def __init__(self) -> None:
        self._known: dict[str, list[str]] = {}

    def __call__(self, value: Any) -> list[str]:
        if not isinstance(value, str):
            return as_topics(value)
        known = self._known.get(value)
        if known is None:
            known = self._known[value] = as_topics(value)
        return list(known)


def _message_view(row: Row, topics: _Topics) -> MessageView:
    """``message_view`` of a full-sync row (every column selected), with cached topics."""
    return MessageView(
        id=row["message_id"],
        chat_id=row["chat_id"],
        text=row["text"],
        created_at=as_datetime(row["created_at"]),
        changed_at=as_datetime(row["changed_at"]),
        direction=row["direction"],
        sentiment=row["sentiment"],
        topics=topics(row["topics"]),
        is_tip=bool(row["is_tip"]),
        price=row["price"],
        media_count=int(row["media_count"] or 0),
        enriched=bool(row["enriched"]),
        command_id=row["command_id"],
    )


def _session_view(row: Row, topics: _Topics | None = None) -> SessionView:
    return SessionView(
        start_at=as_datetime(row["start_at"]) or _FAR_PAST,
        end_at=as_datetime(row["end_at"]) or _FAR_PAST,
        message_count=int(row["message_count"]),
        duration_seconds=float(row["duration_seconds"]),
        silence_seconds=float(row["silence_seconds"]),
        silence_percentage=as_score(row["silence_percentage"]),
        turns=int(row["turns"]),
        sentiment_score=as_score(row["sentiment_score"]),
        topics=(topics or as_topics)(row["topics"]),
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


_CHATS_SQL = "SELECT chat_id, fan_id, fan_name, fan_username, fan_avatar FROM ofca_chat WHERE "
_STATS_SQL = (
    "SELECT chat_id, COUNT(*) AS total, MAX(created_at) AS last_at, "
    "AVG(CASE WHEN direction = 'inbound' THEN sentiment END) AS fan_sentiment, "
    "SUM(CASE WHEN created_at IS NULL THEN 1 ELSE 0 END) AS untimed "
    "FROM ofca_message WHERE {where} GROUP BY chat_id"
)
_WAITING_SQL = (
    "SELECT chat_id, first_inbound_at FROM ofca_reply WHERE {where} AND replied_at IS NULL"
)
_LATEST_SQL = (
    f"SELECT {_COLUMNS} FROM (SELECT {_COLUMNS}, ROW_NUMBER() OVER ("
    "PARTITION BY chat_id ORDER BY (CASE WHEN created_at IS NULL THEN 1 ELSE 0 END), "
    "created_at DESC, message_id DESC) AS position "
    "FROM ofca_message WHERE {where}) ranked WHERE position <= {{}}"
)
_SESSIONS_SQL = (
    "SELECT chat_id, start_at, end_at, message_count, duration_seconds, "
    "silence_seconds, silence_percentage, turns, sentiment_score, topics "
    "FROM ofca_session WHERE {where}"
)
# Conversations built between two yields to the event loop (~10 ms of work).
_YIELD_EVERY = 25


async def _nodes(
    account_id: str,
    only_chat: str | Sequence[str] | None = None,
    *,
    messages: int = FULL_SYNC_MESSAGES,
    triage: Triage = DEFAULT_TRIAGE,
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
        condition, value = _chat_filter(only_chat)
        where += f" AND {condition}"
        args.append(value)
    summaries = (
        fetch_rows(_CHATS_SQL + where, *args),
        fetch_rows(_STATS_SQL.format(where=where), *args),
        _optional(_WAITING_SQL.format(where=where), *args),
    )
    if only_chat is not None:
        # A few given chats: all five queries at once (one round trip of waiting).
        chat_rows, stat_rows, waiting_rows, latest_rows, session_rows = await _together(
            *summaries,
            fetch_rows(_LATEST_SQL.format(where=where), *args, messages),
            _optional(_SESSIONS_SQL.format(where=where), *args),
        )
        chosen = _prioritized(chat_rows, stat_rows, waiting_rows, triage)
    else:
        # The whole account: per-chat summaries first, then messages and sessions of the
        # chosen chats only (reading every chat's latest messages cost 4x the rows).
        chat_rows, stat_rows, waiting_rows = await _together(*summaries)
        chosen = _prioritized(chat_rows, stat_rows, waiting_rows, triage)
        latest_rows, session_rows = [], []
        if chosen:
            condition, value = _chat_filter(chosen)
            only = f"account_id = {{}} AND {condition}"
            latest_rows, session_rows = await _together(
                fetch_rows(_LATEST_SQL.format(where=only), account_id, value, messages),
                _optional(_SESSIONS_SQL.format(where=only), account_id, value),
            )
    chats = {row["chat_id"]: row for row in chat_rows}
    stats = {row["chat_id"]: row for row in stat_rows}
    waiting = {row["chat_id"]: as_datetime(row["first_inbound_at"]) for row in waiting_rows}
    chosen_set = set(chosen)
    latest: dict[str, list[Row]] = {chat_id: [] for chat_id in chosen}
    for row in latest_rows:
        if row["chat_id"] in chosen_set:
            latest[row["chat_id"]].append(row)
    sessions: dict[str, tuple[datetime, Row]] = {}
    chat_topics: dict[str, set[str]] = {}
    topics = _Topics()
    for row in session_rows:
        chat_id = row["chat_id"]
        if chat_id not in chosen_set:
            continue
        chat_topics.setdefault(chat_id, set()).update(topics(row["topics"]))
        start = as_datetime(row["start_at"]) or _FAR_PAST
        current = sessions.get(chat_id)
        if current is None or start > current[0]:
            sessions[chat_id] = (start, row)

    conversations: list[ConversationNode] = []
    excluded = sum(int(row["untimed"] or 0) for row in stats.values())
    for position, chat_id in enumerate(chosen):
        if position % _YIELD_EVERY == _YIELD_EVERY - 1:
            await asyncio.sleep(0)  # a full sync builds thousands of views: let others run
        views = [_message_view(row, topics) for row in latest[chat_id]]
        views.sort(
            key=lambda v: (v.created_at is None, v.created_at or _FAR_PAST, v.id),
        )
        timed = [view for view in views if view.created_at is not None]
        stat = stats.get(chat_id)
        chat = chats.get(chat_id)
        session = sessions.get(chat_id)
        conversations.append(
            ConversationNode(
                chat_id=chat_id,
                fan=fan_view(chat) if chat is not None else fan_view({"chat_id": chat_id}),
                messages=views,
                message_count=int(stat["total"] or 0) if stat is not None else 0,
                last_message=timed[-1] if timed else None,
                last_activity_at=as_datetime(stat["last_at"]) if stat is not None else None,
                unanswered_since=waiting.get(chat_id),
                sentiment_score=as_score(stat["fan_sentiment"]) if stat is not None else None,
                topics=sorted(chat_topics.get(chat_id, ())),
                session=_session_view(session[1], topics) if session is not None else None,
            )
        )
    return conversations, excluded


def _prioritized(
    chat_rows: Sequence[Row],
    stat_rows: Sequence[Row],
    waiting_rows: Sequence[Row],
    triage: Triage = DEFAULT_TRIAGE,
    *,
    now: datetime | None = None,
) -> list[str]:
    """The :data:`FULL_SYNC_CONVERSATIONS` chats to send, in the inbox's default order
    (``ofca.domain.triage``) at ``now``: the dashboard shows first what it is sent first."""
    waiting = {row["chat_id"]: as_datetime(row["first_inbound_at"]) for row in waiting_rows}
    last_at = {row["chat_id"]: as_datetime(row["last_at"]) for row in stat_rows}
    chat_ids = {row["chat_id"] for row in chat_rows} | set(last_at)
    now = now or datetime.now(UTC)
    return sorted(
        chat_ids,
        key=lambda chat_id: triage_key(
            chat_id, waiting.get(chat_id), last_at.get(chat_id), now, triage
        ),
    )[:FULL_SYNC_CONVERSATIONS]


Analytics = Callable[[str], Awaitable[AnalyticsSnapshot | None]]
"""The account's analytics snapshot, or None when unavailable (the insights context)."""


async def _build(
    account_id: str, analytics_of: Analytics, triage: Triage = DEFAULT_TRIAGE
) -> FullSyncResponse:
    conversations, excluded = await _nodes(account_id, triage=triage)
    analytics = await analytics_of(account_id)
    return FullSyncResponse(
        payload=FullSyncPayload(
            conversations=conversations, analytics=analytics, excluded_messages=excluded
        )
    )


class _Built:
    """One build's full sync, and its frame, encoded once for all the build's callers."""

    __slots__ = ("_frame", "sync")

    def __init__(self, sync: FullSyncResponse) -> None:
        self.sync = sync
        self._frame: bytes | None = None

    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = outgoing_encoder.encode(self.sync)
        return self._frame


class _Builds:
    """One account's full-sync builds: at most one runs at a time; callers arriving while
    it runs wait for the next one, which starts when it ends."""

    def __init__(self) -> None:
        self.waiting: list[asyncio.Future[_Built]] = []
        """Callers of the next build (it has not started yet)."""
        self.driver: asyncio.Task[None] | None = None


class FullSyncs:
    """The dashboards' full syncs of a served process (built once by the app, injected)."""

    def __init__(self, analytics: Analytics, triage: Triage = DEFAULT_TRIAGE) -> None:
        self._analytics = analytics
        self._triage = triage
        self._builds: dict[str, _Builds] = {}

    async def full_sync(self, account_id: str) -> FullSyncResponse:
        """The account's full sync, from a build that starts after this call.

        A dashboard calls this after subscribing to the account's live events, so the build
        holds every change committed before the subscription, and every later change
        reaches it live: it never misses one. Callers arriving while a build runs share the
        next build (one build for any number of dashboards connecting or resyncing at once,
        instead of one each); a running build is never joined, as it may have read the data
        before the change a caller must see.
        """
        return (await self._next_build(account_id)).sync

    async def frame(self, account_id: str) -> bytes:
        """:meth:`full_sync` as the encoded ``full_sync_response`` frame: the same bytes
        object for every caller of a build, encoded once (3-4 MB took ~12 ms to encode per
        dashboard)."""
        return (await self._next_build(account_id)).frame()

    async def _next_build(self, account_id: str) -> _Built:
        builds = self._builds.get(account_id)
        if builds is None:
            builds = self._builds[account_id] = _Builds()
        future: asyncio.Future[_Built] = asyncio.get_running_loop().create_future()
        builds.waiting.append(future)
        if builds.driver is None:
            builds.driver = asyncio.create_task(self._drive(account_id, builds))
        return await future

    async def _drive(self, account_id: str, builds: _Builds) -> None:
        callers: list[asyncio.Future[_Built]] = []
        try:
            while builds.waiting:
                callers, builds.waiting = [f for f in builds.waiting if not f.done()], []
                if not callers:
                    continue
                # A build makes ~100k objects that live until its frames are sent; with
                # cyclic GC on, they set off full collections of the heap (150-200 ms each
                # in a served process). They are freed by reference counting anyway.
                gc_pause = GcPause().hold()
                try:
                    try:
                        built = _Built(await _build(account_id, self._analytics, self._triage))
                    except Exception as exc:
                        for future in callers:
                            if not future.done():
                                future.set_exception(exc)
                        continue
                    for future in callers:
                        if not future.done():
                            future.set_result(built)
                        # Each caller then sends a multi-MB frame: one per turn of the event
                        # loop, so other work runs between them (not all of them in one turn).
                        await asyncio.sleep(0)
                finally:
                    gc_pause.release()
                callers = []
        finally:
            for future in (*callers, *builds.waiting):
                future.cancel()  # only when cancelled itself (shutdown): nobody is left hanging
            builds.driver = None
            self._builds.pop(account_id, None)
