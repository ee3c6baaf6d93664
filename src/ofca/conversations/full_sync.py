"""The dashboards' ``full_sync_response``, built from storage.

Conversations are sent in the inbox's default order (``ofca.domain.triage``): fans waiting
within the triage horizon first, ranked by their wait against the SLA, then the rest by last
activity. At most :data:`FULL_SYNC_CONVERSATIONS` are sent, so they are the chats a chatter
sees first; the REST API pages the rest. A build reads what it needs to choose them for
every chat of the account (last activity, the open reply waits), then, for the chosen chats
only and at once, their summaries (``conversations.nodes``: the same statement live
``append_message`` nodes use) and their latest :data:`FULL_SYNC_MESSAGES` messages (a
window function), as asyncpg records straight from the pool on a served Postgres (Piccolo
turns every row into a dict first: that alone held the event loop for 100+ ms per build).

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

from ofca.conversations.nodes import chat_summaries, summarized_node
from ofca.domain.insights import AnalyticsSnapshot
from ofca.domain.triage import DEFAULT_TRIAGE, Triage, triage_key
from ofca.domain.views import as_datetime, as_topics, message_view
from ofca.domain.wss import (
    ConversationNode,
    FullSyncPayload,
    FullSyncResponse,
    outgoing_encoder,
)
from ofca.loop import GcPause
from ofca.persistence.sql import Row, database, fetch_rows, numbered
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
"""Latest messages in a node asked for by chat (:func:`conversation_nodes`)."""
FULL_SYNC_CONVERSATIONS = 500
"""Conversations in a full sync (highest priority first)."""

_COLUMNS = (
    "message_id, chat_id, text, created_at, changed_at, direction, sentiment, topics, "
    "is_tip, price, media_count, enriched, command_id, is_free, is_opened"
)
_FAR_PAST = datetime(1970, 1, 1, tzinfo=UTC)


async def conversation_node(
    account_id: str, chat_id: str, settings: Settings | None = None
) -> ConversationNode | None:
    """One chat's node with its latest messages, or ``None`` when the chat is unknown."""
    triage = DEFAULT_TRIAGE if settings is None else settings.triage
    nodes = await conversation_nodes(account_id, [chat_id], triage)
    return nodes.get(chat_id)


def _chat_filter(chat_ids: Sequence[str]) -> tuple[str, Any]:
    """``chat_id`` is one of ``chat_ids``, and its one parameter: one statement text for any
    number of chats (prepared once on Postgres)."""
    if isinstance(database(), PostgresEngine):
        return "chat_id = ANY({}::varchar[])", list(chat_ids)
    return "chat_id IN (SELECT value FROM json_each({}))", msgspec.json.encode(
        list(chat_ids)
    ).decode()


async def _together(*calls: Awaitable[Sequence[Row]]) -> list[Sequence[Row]]:
    """At once, each on its own pool connection; one after the other inside a caller's
    transaction (its one connection cannot run two queries at a time)."""
    if database().current_transaction.get() is not None:
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


async def conversation_nodes(
    account_id: str, chat_ids: Sequence[str], triage: Triage = DEFAULT_TRIAGE
) -> dict[str, ConversationNode]:
    """The nodes of these chats, each with its latest :data:`LIVE_NODE_MESSAGES` messages."""
    unique = list(dict.fromkeys(chat_ids))
    nodes: dict[str, ConversationNode] = {}
    for start in range(0, len(unique), FULL_SYNC_CONVERSATIONS):
        found = await _nodes(
            account_id,
            unique[start : start + FULL_SYNC_CONVERSATIONS],
            LIVE_NODE_MESSAGES,
            triage.whale_spend,
        )
        nodes.update((node.chat_id, node) for node in found)
    return nodes


_CHATS_SQL = "SELECT chat_id FROM ofca_chat WHERE account_id = {}"
_STATS_SQL = (
    "SELECT chat_id, MAX(created_at) AS last_at, "
    "SUM(CASE WHEN created_at IS NULL THEN 1 ELSE 0 END) AS untimed "
    "FROM ofca_message WHERE account_id = {} GROUP BY chat_id"
)
_WAITING_SQL = (
    "SELECT chat_id, first_inbound_at FROM ofca_reply WHERE account_id = {} AND replied_at IS NULL"
)
_LATEST_SQL = (
    f"SELECT {_COLUMNS} FROM (SELECT {_COLUMNS}, ROW_NUMBER() OVER ("
    "PARTITION BY chat_id ORDER BY (CASE WHEN created_at IS NULL THEN 1 ELSE 0 END), "
    "created_at DESC, message_id DESC) AS position "
    "FROM ofca_message WHERE account_id = {{}} AND {chats}) ranked WHERE position <= {{}}"
)
# Postgres: each chat's latest messages straight off the (account, chat, created_at,
# message_id) index (m0013), timed ones newest first, then untimed ones: numbering every
# message of the chosen chats (100k of them, a sort of the account) took 0.4-0.9 s per full
# sync of a 400-chat account.
_PG_LATEST_SQL = (
    f"SELECT l.* FROM unnest({{}}::varchar[]) AS c(chat_id) CROSS JOIN LATERAL ("
    f"SELECT * FROM ((SELECT {_COLUMNS} FROM ofca_message m WHERE m.account_id = {{}} "
    "AND m.chat_id = c.chat_id AND m.created_at IS NOT NULL "
    "ORDER BY m.created_at DESC, m.message_id DESC LIMIT {}) UNION ALL "
    f"(SELECT {_COLUMNS} FROM ofca_message m WHERE m.account_id = {{}} "
    "AND m.chat_id = c.chat_id AND m.created_at IS NULL ORDER BY m.message_id DESC LIMIT {})) u "
    "ORDER BY (u.created_at IS NULL), u.created_at DESC, u.message_id DESC LIMIT {}) l"
)
_PG_LATEST_NUMBERED = numbered(_PG_LATEST_SQL)
# Conversations built between two yields to the event loop (~10 ms of work).
_YIELD_EVERY = 25


async def _chosen(account_id: str, triage: Triage = DEFAULT_TRIAGE) -> tuple[list[str], int]:
    """The account's chats to send, in the inbox's order, and the number of its messages
    without a usable time (excluded from metrics)."""
    chat_rows, stat_rows, waiting_rows = await _together(
        fetch_rows(_CHATS_SQL, account_id),
        fetch_rows(_STATS_SQL, account_id),
        _optional(_WAITING_SQL, account_id),
    )
    excluded = sum(int(row["untimed"] or 0) for row in stat_rows)
    return _prioritized(chat_rows, stat_rows, waiting_rows, triage), excluded


async def _nodes(
    account_id: str,
    chat_ids: Sequence[str],
    messages: int = FULL_SYNC_MESSAGES,
    whale_spend: float = DEFAULT_TRIAGE.whale_spend,
) -> list[ConversationNode]:
    """The nodes of these chats (at most :data:`FULL_SYNC_CONVERSATIONS`, in this order),
    each with its latest ``messages`` messages; none for a chat not stored."""
    if not chat_ids:
        return []
    if isinstance(database(), PostgresEngine):
        ids = list(chat_ids)
        latest_query = fetch_rows(
            _PG_LATEST_SQL,
            ids,
            *(account_id, messages) * 2,
            messages,
            prepared=_PG_LATEST_NUMBERED,
        )
    else:
        condition, value = _chat_filter(chat_ids)
        latest_query = fetch_rows(_LATEST_SQL.format(chats=condition), account_id, value, messages)
    summary_rows, latest_rows = await _together(
        chat_summaries(database(), account_id, chat_ids), latest_query
    )
    summaries = {row["chat_id"]: row for row in summary_rows}
    latest: dict[str, list[Row]] = {chat_id: [] for chat_id in chat_ids}
    for row in latest_rows:
        if row["chat_id"] in latest:
            latest[row["chat_id"]].append(row)
    topics = _Topics()
    nodes: list[ConversationNode] = []
    for position, chat_id in enumerate(chat_ids):
        if position % _YIELD_EVERY == _YIELD_EVERY - 1:
            await asyncio.sleep(0)  # a full sync builds thousands of views: let others run
        summary = summaries.get(chat_id)
        if summary is None:
            continue  # deleted meanwhile
        views = [message_view(row, topics) for row in latest[chat_id]]
        views.sort(key=lambda v: (v.created_at is None, v.created_at or _FAR_PAST, v.id))
        nodes.append(summarized_node(summary, views, topics, whale_spend))
    return nodes


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
    chat_ids = {row["chat_id"] for row in chat_rows}  # every write stores its chat first
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
    chosen, excluded = await _chosen(account_id, triage)
    conversations = await _nodes(account_id, chosen, whale_spend=triage.whale_spend)
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
