"""Read side of the conversations API: listing, status summaries and message pages.

Every query is scoped to one account and written in SQL that means the same on SQLite and
Postgres (``lower(...) LIKE lower(...) ESCAPE``, correlated subqueries, ``NULLS LAST``).
Sessions and replies are derived from the chat's messages with the pure functions of
``ofca.domain.metrics``, so the numbers here are those of docs/metrics.md by construction.

SQLite's ``lower()`` folds ASCII letters only; Postgres folds all of Unicode. Fan and text
searches are therefore case-insensitive for ASCII on both engines and for every script on
Postgres.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec
from piccolo.engine.postgres import PostgresEngine

from ofca.domain.metrics import MessagePoint, ReplyRun, SessionStats, chat_analysis
from ofca.domain.sources import WEBHOOK_SOURCE
from ofca.domain.views import as_datetime, as_score, as_topics, fan_view, message_view
from ofca.domain.wss import FanView, MessageView
from ofca.persistence.sql import database, raw_sql
from ofca.persistence.tables import ChatRow, MessageRow
from ofca.settings import Settings

__all__ = [
    "MESSAGE_VIEW_COLUMNS",
    "NO_TIME",
    "ChatStatus",
    "ConversationDetail",
    "ConversationFilters",
    "ConversationListItem",
    "ConversationPage",
    "CursorError",
    "ListStatus",
    "MessagePage",
    "chat_exists",
    "conversation_detail",
    "iter_chat_ids",
    "list_conversations",
    "message_page",
    "origin_field_sql",
    "raw_sql",
]

ChatStatus = Literal["open", "answered", "none", "completed"]
"""``open``: the last message with a direction is from the fan (an unanswered run);
``answered``: it is the creator's; ``none``: the chat has no directional message yet;
``completed``: a transcript (a finished conversation), when asked for by its seed 004
``conversationId`` (``ofca.conversations.transcripts``)."""

ListStatus = Literal["open", "answered", "completed"]
"""The list's ``status`` filter: ``completed`` keeps transcripts (seed 004's webhook)."""

# Messages without a usable time sort after every real time (chat order needs a total order).
NO_TIME = datetime(9999, 12, 31, tzinfo=UTC)

MESSAGE_VIEW_COLUMNS = (
    "message_id, chat_id, text, created_at, changed_at, direction, sentiment, topics, "
    "is_tip, price, media_count, enriched, command_id, source, is_free, is_opened"
)


class ConversationFilters(msgspec.Struct, frozen=True, kw_only=True):
    status: ListStatus | None = None
    topic: str | None = None
    fan: str | None = None
    q: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    email_id: str | None = None
    """Seed 004: the transcript's ``emailId``, exactly as sent."""
    transcript_account: str | None = None
    """Seed 004: the transcript's ``accountId``, exactly as sent."""


class ConversationListItem(msgspec.Struct, kw_only=True):
    chat_id: str
    source: str
    fan: FanView
    status: ChatStatus
    message_count: int
    inbound_count: int
    outbound_count: int
    first_message_at: datetime | None
    last_message_at: datetime | None


class ConversationPage(msgspec.Struct, kw_only=True):
    total: int
    page: int
    limit: int
    items: list[ConversationListItem]


class MessageCounts(msgspec.Struct, kw_only=True):
    total: int
    inbound: int
    outbound: int
    unknown: int
    excluded: int
    """Stored without a usable time: excluded from every metric (docs/metrics.md "Messages")."""


class SessionSummary(msgspec.Struct, kw_only=True):
    start_at: datetime
    end_at: datetime
    message_count: int
    inbound_count: int
    outbound_count: int
    duration_seconds: float
    silence_seconds: float
    silence_percentage: float | None
    turns: int
    sentiment_score: float | None
    topics: list[str]


class OpenReplyWait(msgspec.Struct, kw_only=True):
    """The unanswered run at the end of the chat: since when the fan has been waiting."""

    since: datetime
    first_message_id: str
    waiting_seconds: float


class ConversationDetail(msgspec.Struct, kw_only=True):
    chat_id: str
    source: str
    fan: FanView
    status: ChatStatus
    first_message: MessageView | None
    last_message: MessageView | None
    message_counts: MessageCounts
    sessions: list[SessionSummary]
    open_reply_wait: OpenReplyWait | None
    sentiment_score: float | None
    """Mean score of the fan's messages with text, over the whole chat; null without any."""
    topics: list[str]
    reply_count: int
    """Answered runs over the whole chat (docs/metrics.md "Replies")."""


class MessagePage(msgspec.Struct, kw_only=True):
    items: list[MessageView]
    next_cursor: str | None
    """Opaque; pass as ``cursor`` for the next (newer) page; null at the end."""


class CursorError(ValueError):
    """The cursor was not produced by this API."""


# --------------------------------------------------------------------------- helpers


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE's wildcards in ``text`` escaped (``ESCAPE '\\'``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class _Sql:
    """A WHERE clause and its arguments, built up with Piccolo's ``{}`` placeholders."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.args: list[Any] = []

    def add(self, clause: str, *args: Any) -> None:
        self.clauses.append(clause)
        self.args.extend(args)

    @property
    def where(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "1 = 1"


_MESSAGE_OF_CHAT = "m.account_id = c.account_id AND m.chat_id = c.chat_id"
_LAST_DIRECTION = (
    "(SELECT m.direction FROM ofca_message m WHERE "
    + _MESSAGE_OF_CHAT
    + " AND m.direction IN ('inbound', 'outbound') AND m.created_at IS NOT NULL "
    "ORDER BY m.created_at DESC, m.message_id DESC LIMIT 1)"
)
_LAST_ACTIVITY = "(SELECT MAX(m.created_at) FROM ofca_message m WHERE " + _MESSAGE_OF_CHAT + ")"


def origin_field_sql(name: str) -> str:
    """SQL of a field of what a transcript's sender said about it (the ``origin`` kept in
    ``ofca_chat.raw`` of ``webhook`` chats, as text); NULL for chats of other sources,
    whose ``raw`` is not read."""
    if isinstance(database(), PostgresEngine):
        value = f"CAST(c.raw AS jsonb) -> 'origin' ->> '{name}'"
    else:
        value = f"json_extract(c.raw, '$.origin.{name}')"
    return f"(CASE WHEN c.source = '{WEBHOOK_SOURCE}' THEN {value} END)"


def _chat_filter(account_id: str, filters: ConversationFilters) -> _Sql:
    sql = _Sql()
    sql.add("c.account_id = {}", account_id)
    if filters.status == "completed":
        sql.add("c.source = {}", WEBHOOK_SOURCE)
    if filters.email_id is not None:
        sql.add(f"{origin_field_sql('emailId')} = {{}}", filters.email_id)
    if filters.transcript_account is not None:
        sql.add(f"{origin_field_sql('accountId')} = {{}}", filters.transcript_account)
    if filters.fan:
        pattern = like_pattern(filters.fan)
        sql.add(
            "(lower(c.fan_name) LIKE lower({}) ESCAPE '\\' "
            "OR lower(c.fan_username) LIKE lower({}) ESCAPE '\\' "
            "OR lower(c.fan_id) LIKE lower({}) ESCAPE '\\')",
            pattern,
            pattern,
            pattern,
        )
    if filters.q:
        sql.add(
            "EXISTS (SELECT 1 FROM ofca_message m WHERE "
            + _MESSAGE_OF_CHAT
            + " AND lower(m.text) LIKE lower({}) ESCAPE '\\')",
            like_pattern(filters.q),
        )
    if filters.topic and (filters.start is not None or filters.end is not None):
        # With a window, the Insights' topic rule: a session starting in the window has the
        # topic (docs/metrics.md "Sessions"), so the inbox lists the chats behind a topic row.
        clause = (
            "EXISTS (SELECT 1 FROM ofca_session s WHERE s.account_id = c.account_id "
            "AND s.chat_id = c.chat_id AND CAST(s.topics AS TEXT) LIKE {} ESCAPE '\\'"
        )
        args: list[Any] = [like_pattern(json.dumps(filters.topic))]
        if filters.start is not None:
            clause += " AND s.start_at >= {}"
            args.append(filters.start.astimezone(UTC))
        if filters.end is not None:
            clause += " AND s.start_at < {}"
            args.append(filters.end.astimezone(UTC))
        sql.add(clause + ")", *args)
    elif filters.topic:
        # Topics are stored as a JSON list of ids; the quotes bound the id.
        sql.add(
            "EXISTS (SELECT 1 FROM ofca_message m WHERE "
            + _MESSAGE_OF_CHAT
            + " AND CAST(m.topics AS TEXT) LIKE {} ESCAPE '\\')",
            like_pattern(json.dumps(filters.topic)),
        )
    if filters.start is not None or filters.end is not None:
        clause = "EXISTS (SELECT 1 FROM ofca_message m WHERE " + _MESSAGE_OF_CHAT
        bounds: list[Any] = []
        if filters.start is not None:
            clause += " AND m.created_at >= {}"
            bounds.append(filters.start.astimezone(UTC))
        if filters.end is not None:
            clause += " AND m.created_at < {}"
            bounds.append(filters.end.astimezone(UTC))
        sql.add(clause + ")", *bounds)
    return sql


def _filtered_chats_sql(
    account_id: str, filters: ConversationFilters, *, full: bool = True
) -> tuple[str, list[Any]]:
    """SELECT of the matching chats: with fan and last activity (``full``), or just their
    ids (counting, exports). The last direction (a probe per chat) is computed only when
    the status filter needs it; otherwise only for the rows of the page."""
    sql = _chat_filter(account_id, filters)
    if full:
        columns = (
            "c.chat_id, c.source, c.fan_id, c.fan_name, c.fan_username, c.fan_avatar, "
            f"{_LAST_ACTIVITY} AS last_activity"
        )
        if filters.status is not None:
            columns += f", {_LAST_DIRECTION} AS last_direction"
    elif filters.status is not None:
        columns = f"c.chat_id, {_LAST_DIRECTION} AS last_direction"
    else:
        columns = "c.chat_id"
    outer = f"SELECT * FROM (SELECT {columns} FROM ofca_chat c WHERE {sql.where}) t"
    args = list(sql.args)
    if filters.status == "open":
        outer += " WHERE t.last_direction = 'inbound'"
    elif filters.status == "answered":
        outer += " WHERE t.last_direction = 'outbound'"
    return outer, args


def _status(last_direction: str | None) -> ChatStatus:
    if last_direction == "inbound":
        return "open"
    if last_direction == "outbound":
        return "answered"
    return "none"


async def _count_by_chat(account_id: str, chat_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not chat_ids:
        return {}
    placeholders = ", ".join("{}" for _ in chat_ids)
    rows = await raw_sql(
        "SELECT chat_id, COUNT(*) AS total, "
        "SUM(CASE WHEN direction = 'inbound' THEN 1 ELSE 0 END) AS inbound, "
        "SUM(CASE WHEN direction = 'outbound' THEN 1 ELSE 0 END) AS outbound, "
        "MIN(created_at) AS first_at, MAX(created_at) AS last_at "
        f"FROM ofca_message WHERE account_id = {{}} AND chat_id IN ({placeholders}) "
        "GROUP BY chat_id",
        account_id,
        *chat_ids,
    ).run()
    return {row["chat_id"]: row for row in rows}


async def _last_directions(account_id: str, chat_ids: Sequence[str]) -> dict[str, str | None]:
    if not chat_ids:
        return {}
    rows = await raw_sql(
        f"SELECT c.chat_id, {_LAST_DIRECTION} AS last_direction FROM ofca_chat c "
        f"WHERE c.account_id = {{}} AND c.chat_id IN ({', '.join('{}' for _ in chat_ids)})",
        account_id,
        *chat_ids,
    ).run()
    return {row["chat_id"]: row["last_direction"] for row in rows}


# --------------------------------------------------------------------------- queries


async def list_conversations(
    account_id: str, filters: ConversationFilters, page: int, limit: int
) -> ConversationPage:
    """One page of the account's chats, most recently active first. The total comes from
    the same query (a window count), so the filters are evaluated once; only a page past
    the end needs a separate count."""
    select, args = _filtered_chats_sql(account_id, filters)
    rows = await raw_sql(
        f"SELECT t.*, COUNT(*) OVER () AS total_count FROM ({select}) t "
        "ORDER BY t.last_activity DESC NULLS LAST, t.chat_id LIMIT {} OFFSET {}",
        *args,
        limit,
        (page - 1) * limit,
    ).run()
    if rows:
        total = int(rows[0]["total_count"])
    else:
        counting, count_args = _filtered_chats_sql(account_id, filters, full=False)
        counted = await raw_sql(f"SELECT COUNT(*) AS n FROM ({counting}) c", *count_args).run()
        total = int(counted[0]["n"]) if counted else 0
    items: list[ConversationListItem] = []
    if rows:
        page_ids = [row["chat_id"] for row in rows]
        counts = await _count_by_chat(account_id, page_ids)
        directions = (
            {row["chat_id"]: row["last_direction"] for row in rows}
            if filters.status is not None
            else await _last_directions(account_id, page_ids)
        )
        for row in rows:
            count = counts.get(row["chat_id"], {})
            items.append(
                ConversationListItem(
                    chat_id=row["chat_id"],
                    source=row["source"],
                    fan=fan_view(row),
                    status=_status(directions.get(row["chat_id"])),
                    message_count=int(count.get("total") or 0),
                    inbound_count=int(count.get("inbound") or 0),
                    outbound_count=int(count.get("outbound") or 0),
                    first_message_at=as_datetime(count.get("first_at")),
                    last_message_at=as_datetime(count.get("last_at")),
                )
            )
    return ConversationPage(total=total, page=page, limit=limit, items=items)


async def iter_chat_ids(
    account_id: str, filters: ConversationFilters, batch: int = 500
) -> AsyncIterator[str]:
    """The matching chat ids in chat-id order, fetched ``batch`` at a time (for exports)."""
    select, args = _filtered_chats_sql(account_id, filters, full=False)
    after = ""
    while True:
        rows = await raw_sql(
            f"SELECT chat_id FROM ({select}) f WHERE f.chat_id > {{}} "
            "ORDER BY f.chat_id LIMIT {}",
            *args,
            after,
            batch,
        ).run()
        for row in rows:
            yield row["chat_id"]
        if len(rows) < batch:
            return
        after = rows[-1]["chat_id"]


async def chat_row(account_id: str, chat_id: str) -> dict[str, Any] | None:
    return (
        await ChatRow.select()
        .where((ChatRow.account_id == account_id) & (ChatRow.chat_id == chat_id))
        .first()
        .run()
    )


async def chat_exists(account_id: str, chat_id: str) -> bool:
    if await chat_row(account_id, chat_id) is not None:
        return True
    found = await MessageRow.exists().where(
        (MessageRow.account_id == account_id) & (MessageRow.chat_id == chat_id)
    )
    return bool(found)


async def chat_messages(account_id: str, chat_id: str) -> list[dict[str, Any]]:
    """All stored messages of one chat in chat order (untimed last)."""
    rows: list[dict[str, Any]] = await raw_sql(
        f"SELECT {MESSAGE_VIEW_COLUMNS} FROM ofca_message "
        "WHERE account_id = {} AND chat_id = {} ORDER BY COALESCE(created_at, {}), message_id",
        account_id,
        chat_id,
        NO_TIME,
    ).run()
    return rows


def points_of(rows: Sequence[dict[str, Any]]) -> list[MessagePoint]:
    points: list[MessagePoint] = []
    for row in rows:
        created = as_datetime(row["created_at"])
        if created is None:
            continue
        points.append(
            MessagePoint(
                message_id=row["message_id"],
                created_at=created,
                direction=row["direction"],
                sentiment=row["sentiment"],
                topics=tuple(as_topics(row["topics"])),
            )
        )
    return points


def analyse(
    chat_id: str, points: Sequence[MessagePoint], settings: Settings
) -> tuple[list[SessionStats], list[ReplyRun]]:
    return chat_analysis(
        chat_id,
        points,
        timedelta(minutes=settings.session_gap_minutes),
        timedelta(seconds=settings.silence_threshold_seconds),
    )


def session_summary(stats: SessionStats) -> SessionSummary:
    return SessionSummary(
        start_at=stats.start_at,
        end_at=stats.end_at,
        message_count=stats.message_count,
        inbound_count=stats.inbound_count,
        outbound_count=stats.outbound_count,
        duration_seconds=stats.duration_seconds,
        silence_seconds=stats.silence_seconds,
        silence_percentage=as_score(stats.silence_percentage),
        turns=stats.turns,
        sentiment_score=as_score(stats.sentiment_score),
        topics=list(stats.topics),
    )


async def conversation_detail(
    account_id: str, chat_id: str, settings: Settings, now: datetime | None = None
) -> ConversationDetail | None:
    """The chat's status summary, or ``None`` when the account has no such chat."""
    chat = await chat_row(account_id, chat_id)
    rows = await chat_messages(account_id, chat_id)
    if chat is None and not rows:
        return None
    chat = chat or {"chat_id": chat_id, "source": rows[0].get("source", "unknown")}
    points = points_of(rows)
    sessions, runs = analyse(chat_id, points, settings)
    views = [message_view(row) for row in rows]
    timed = [view for view in views if view.created_at is not None]
    last_direction = next(
        (p.direction for p in reversed(points) if p.direction in ("inbound", "outbound")), None
    )
    open_wait = None
    if runs and runs[-1].replied_at is None:
        since = runs[-1].first_inbound_at
        open_wait = OpenReplyWait(
            since=since,
            first_message_id=runs[-1].first_inbound_message_id,
            waiting_seconds=round(
                max(((now or datetime.now(UTC)) - since).total_seconds(), 0.0), 3
            ),
        )
    inbound_scores = [
        p.sentiment for p in points if p.direction == "inbound" and p.sentiment is not None
    ]
    topics: set[str] = set()
    for view in views:
        topics.update(view.topics)
    return ConversationDetail(
        chat_id=chat_id,
        source=chat.get("source") or "onlyfans",
        fan=fan_view(chat),
        status=_status(last_direction),
        first_message=timed[0] if timed else (views[0] if views else None),
        last_message=timed[-1] if timed else (views[-1] if views else None),
        message_counts=MessageCounts(
            total=len(views),
            inbound=sum(1 for v in views if v.direction == "inbound"),
            outbound=sum(1 for v in views if v.direction == "outbound"),
            unknown=sum(1 for v in views if v.direction == "unknown"),
            excluded=len(views) - len(timed),
        ),
        sessions=[session_summary(s) for s in sessions],
        open_reply_wait=open_wait,
        sentiment_score=as_score(sum(inbound_scores) / len(inbound_scores))
        if inbound_scores
        else None,
        topics=sorted(topics),
        reply_count=sum(1 for run in runs if run.replied_at is not None),
    )


# --------------------------------------------------------------------------- message pages


def encode_cursor(created_at: datetime | None, message_id: str) -> str:
    stamp = (created_at or NO_TIME).astimezone(UTC).isoformat()
    raw = msgspec.json.encode([stamp, message_id])
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, message_id = msgspec.json.decode(base64.urlsafe_b64decode(padded), type=list[str])
        return datetime.fromisoformat(stamp).astimezone(UTC), message_id
    except (ValueError, TypeError, binascii.Error, msgspec.DecodeError) as exc:
        raise CursorError("invalid cursor") from exc


async def message_page(
    account_id: str, chat_id: str, limit: int, cursor: str | None
) -> MessagePage:
    """Oldest first; the cursor is the (time, id) of the last message returned (keyset)."""
    sql = _Sql()
    sql.add("account_id = {}", account_id)
    sql.add("chat_id = {}", chat_id)
    if cursor:
        after_time, after_id = decode_cursor(cursor)
        sql.add(
            "(COALESCE(created_at, {}) > {} "
            "OR (COALESCE(created_at, {}) = {} AND message_id > {}))",
            NO_TIME,
            after_time,
            NO_TIME,
            after_time,
            after_id,
        )
    rows = await raw_sql(
        f"SELECT {MESSAGE_VIEW_COLUMNS} FROM ofca_message WHERE {sql.where} "
        "ORDER BY COALESCE(created_at, {}), message_id LIMIT {}",
        *sql.args,
        NO_TIME,
        limit + 1,
    ).run()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [message_view(row) for row in rows]
    next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if more and items else None
    return MessagePage(items=items, next_cursor=next_cursor)
