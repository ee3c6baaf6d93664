"""Exports, streamed and never all in memory: sessions, messages, a whole account.

Session rows are derived per chat from its messages with ``ofca.domain.metrics``, one chat
at a time, so memory is bounded by the largest chat, not the account. The account export
walks the same tables as erasure (``conversations.erasure.account_tables``).
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from ofca.conversations.erasure import account_tables
from ofca.conversations.queries import (
    MESSAGE_VIEW_COLUMNS,
    NO_TIME,
    ConversationFilters,
    analyse,
    iter_chat_ids,
    like_pattern,
    points_of,
)
from ofca.domain.metrics import SessionStats
from ofca.domain.money import stored_revenue
from ofca.domain.views import as_datetime, as_score, as_topics, fan_view
from ofca.persistence.sql import raw_sql
from ofca.settings import Settings

__all__ = [
    "SESSION_COLUMNS",
    "export_account",
    "export_messages",
    "export_sessions",
]

log = logging.getLogger(__name__)

SESSION_COLUMNS = (
    "chat_id",
    "fan_id",
    "fan_name",
    "fan_username",
    "session_index",
    "start_at",
    "end_at",
    "message_count",
    "inbound_count",
    "outbound_count",
    "duration_seconds",
    "silence_seconds",
    "silence_percentage",
    "turns",
    "sentiment_score",
    "topics",
    "revenue",
)
"""One export row per session: every per-session value of docs/metrics.md, plus who and when;
``revenue``: the tips and PPV purchases of its messages (docs/metrics.md, "Money")."""

SECRET_COLUMNS = frozenset(
    {"key_hash", "token_hash", "session_hash", "password_hash", "webhook_secret"}
)
"""Never exported: credentials (their hashes included)."""

_encoder = msgspec.json.Encoder()


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _session_revenue(stats: SessionStats, money: list[tuple[datetime, float]]) -> float:
    """The revenue of the chat's money messages (time, amount) lying in the session."""
    return round(math.fsum(a for t, a in money if stats.start_at <= t <= stats.end_at), 9)


def _session_record(
    chat: dict[str, Any], index: int, stats: SessionStats, revenue: float = 0.0
) -> dict[str, Any]:
    fan = fan_view(chat)
    return {
        "chat_id": stats.chat_id,
        "fan_id": fan.id,
        "fan_name": fan.name,
        "fan_username": fan.username,
        "session_index": index,
        "start_at": _iso(stats.start_at),
        "end_at": _iso(stats.end_at),
        "message_count": stats.message_count,
        "inbound_count": stats.inbound_count,
        "outbound_count": stats.outbound_count,
        "duration_seconds": stats.duration_seconds,
        "silence_seconds": stats.silence_seconds,
        "silence_percentage": as_score(stats.silence_percentage),
        "turns": stats.turns,
        "sentiment_score": as_score(stats.sentiment_score),
        "topics": list(stats.topics),
        "revenue": revenue,
    }


def _csv_line(values: list[Any]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue().encode("utf-8")


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(item) for item in value)
    return value


def _in_window(instant: datetime, filters: ConversationFilters) -> bool:
    if filters.start is not None and instant < filters.start:
        return False
    return not (filters.end is not None and instant >= filters.end)


EXPORT_CHAT_BATCH = 200
"""Chats read per query by the exports: memory is bounded by this many chats' messages."""


async def _chat_batches(account_id: str, filters: ConversationFilters) -> AsyncIterator[list[str]]:
    batch: list[str] = []
    async for chat_id in iter_chat_ids(account_id, filters):
        batch.append(chat_id)
        if len(batch) == EXPORT_CHAT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _in_list(values: list[str]) -> str:
    return ", ".join("{}" for _ in values)


async def export_sessions(
    account_id: str,
    filters: ConversationFilters,
    settings: Settings,
    fmt: Literal["csv", "ndjson"],
) -> AsyncIterator[bytes]:
    """Sessions of the matching chats, derived from their messages a batch of chats at a
    time; a session is in ``[start, end)`` by its first message and, with ``topic``, only
    sessions having that topic are kept (docs/metrics.md, "Insights": Filters)."""
    if fmt == "csv":
        yield _csv_line(list(SESSION_COLUMNS))
    rows = 0
    async for batch in _chat_batches(account_id, filters):
        chats = {
            row["chat_id"]: row
            for row in await raw_sql(
                "SELECT chat_id, fan_id, fan_name, fan_username, fan_avatar FROM ofca_chat "
                f"WHERE account_id = {{}} AND chat_id IN ({_in_list(batch)})",
                account_id,
                *batch,
            ).run()
        }
        by_chat: dict[str, list[dict[str, Any]]] = {chat_id: [] for chat_id in batch}
        money: dict[str, list[tuple[datetime, float]]] = {}
        for row in await raw_sql(
            "SELECT chat_id, message_id, created_at, direction, sentiment, topics, is_tip, price, "
            "is_free, is_opened "
            f"FROM ofca_message WHERE account_id = {{}} AND chat_id IN ({_in_list(batch)}) "
            "AND created_at IS NOT NULL",
            account_id,
            *batch,
        ).run():
            by_chat[row["chat_id"]].append(row)
            amount = stored_revenue(row)
            at = as_datetime(row["created_at"])
            if amount > 0 and at is not None:
                money.setdefault(row["chat_id"], []).append((at, amount))
        out: list[bytes] = []
        for chat_id in batch:
            chat = chats.get(chat_id) or {"chat_id": chat_id}
            sessions, _runs = analyse(chat_id, points_of(by_chat[chat_id]), settings)
            for index, stats in enumerate(sessions):
                if not _in_window(stats.start_at, filters):
                    continue
                if filters.topic and filters.topic not in stats.topics:
                    continue
                revenue = _session_revenue(stats, money.get(chat_id, []))
                record = _session_record(chat, index, stats, revenue)
                if fmt == "csv":
                    out.append(_csv_line([_csv_cell(record[name]) for name in SESSION_COLUMNS]))
                else:
                    out.append(_encoder.encode(record) + b"\n")
        rows += len(out)
        if out:
            yield b"".join(out)
    log.info("exported %d sessions of %s", rows, account_id)


def _message_record(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "message_id": row["message_id"],
        "chat_id": row["chat_id"],
        "created_at": _iso(as_datetime(row["created_at"])),
        "changed_at": _iso(as_datetime(row.get("changed_at"))),
        "direction": row["direction"],
        "text": row["text"],
        "sentiment": row["sentiment"],
        "topics": as_topics(row["topics"]),
        "is_tip": bool(row["is_tip"]),
        "price": row["price"],
        "media_count": int(row["media_count"] or 0),
        "source": row.get("source"),
        "command_id": row.get("command_id"),
    }


async def export_messages(account_id: str, filters: ConversationFilters) -> AsyncIterator[bytes]:
    """NDJSON of the matching chats' messages with their enrichment, chat by chat in chat
    order; with ``start``/``end`` only messages created in ``[start, end)``; with ``q`` only
    messages whose text contains it (the list's case-insensitive match)."""
    rows_out = 0
    async for batch in _chat_batches(account_id, filters):
        clauses = [f"account_id = {{}} AND chat_id IN ({_in_list(batch)})"]
        args: list[Any] = [account_id, *batch]
        if filters.start is not None:
            clauses.append("created_at >= {}")
            args.append(filters.start.astimezone(UTC))
        if filters.end is not None:
            clauses.append("created_at < {}")
            args.append(filters.end.astimezone(UTC))
        if filters.q:
            clauses.append("lower(text) LIKE lower({}) ESCAPE '\\'")
            args.append(like_pattern(filters.q))
        rows = await raw_sql(
            f"SELECT {MESSAGE_VIEW_COLUMNS} FROM ofca_message WHERE {' AND '.join(clauses)} "
            "ORDER BY chat_id, COALESCE(created_at, {}), message_id",
            *args,
            NO_TIME,
        ).run()
        if rows:
            rows_out += len(rows)
            yield b"".join(_encoder.encode(_message_record(row)) + b"\n" for row in rows)
    log.info("exported %d messages of %s", rows_out, account_id)


# --------------------------------------------------------------------------- account data


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value if value.tzinfo else value.replace(tzinfo=UTC))
    return value


async def export_account(account_id: str, batch: int = 1000) -> AsyncIterator[bytes]:
    """Everything stored for the account, one ``{"table", "row"}`` object per line, table by
    table in id order; credentials (hashes, secrets) are left out."""
    for table in account_tables():
        name = table._meta.tablename
        columns = [
            column._meta.db_column_name
            for column in table._meta.columns
            if column._meta.db_column_name not in SECRET_COLUMNS
            and column._meta.db_column_name != "id"
        ]
        select = ", ".join(columns)
        after = 0
        while True:
            rows = await raw_sql(
                f"SELECT id, {select} FROM {name} WHERE account_id = {{}} AND id > {{}} "
                "ORDER BY id LIMIT {}",
                account_id,
                after,
                batch,
            ).run()
            for row in rows:
                data = {key: _jsonable(value) for key, value in row.items() if key != "id"}
                yield _encoder.encode({"table": name, "row": data}) + b"\n"
            if len(rows) < batch:
                break
            after = rows[-1]["id"]
