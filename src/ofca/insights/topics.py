"""Custom topics per account: create, change, delete, and re-tag what is stored.

Custom topic ids may not reuse a built-in id (built-ins are read-only, so a topic id means
the same thing in every account). Each change bumps the account's row in
``ofca_topic_set`` in the same transaction, which every process's matcher cache
(``persistence.topic_rules``) keys on. A change re-tags the account's stored messages and
recomputes the affected chats.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from piccolo.engine.postgres import PostgresEngine

from ofca.domain.insights import TopicView
from ofca.domain.taxonomy import DEFAULT_TOPICS, TopicRule
from ofca.insights.refresh import refresh_chats
from ofca.persistence.sql import chunks, database, lock_derived_rows, write_transaction
from ofca.persistence.tables import CustomTopic, TopicSet
from ofca.persistence.topic_rules import matcher_for, rule_of, topic_set_version
from ofca.settings import Settings

__all__ = [
    "BUILTIN_IDS",
    "RETAG_INLINE_LIMIT",
    "TopicConflict",
    "TopicInput",
    "TopicNotFound",
    "TopicValidationError",
    "create_topic",
    "delete_topic",
    "list_topics",
    "retag_account",
    "schedule_retag",
    "update_topic",
]

log = logging.getLogger(__name__)

BUILTIN_IDS = frozenset(rule.id for rule in DEFAULT_TOPICS)
TOPIC_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_TOPIC_ID = re.compile(TOPIC_ID_PATTERN)
MAX_KEYWORDS = 500
MAX_KEYWORD_LENGTH = 100
MAX_CUSTOM_TOPICS = 200
RETAG_INLINE_LIMIT = 5_000
"""Accounts with more stored messages are re-tagged in a background task."""
_RETAG_PAGE = 5000
_TOPIC_LIST = msgspec.json.Decoder(list[str])


class TopicValidationError(ValueError):
    """Bad topic input (422)."""


class TopicConflict(ValueError):
    """The id is built in or exists already (409)."""


class TopicNotFound(LookupError):
    """No such custom topic in this account (404)."""


class TopicInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST /api/v1/topics`` (``id`` required) and ``PUT`` (``id`` ignored)."""

    label: str
    keywords: list[str]
    id: str | None = None


# --------------------------------------------------------------------------- CRUD


def _clean_input(topic: TopicInput, topic_id: str) -> tuple[str, str, list[str]]:
    if not _TOPIC_ID.match(topic_id):
        raise TopicValidationError(
            "topic id must be 1-64 characters of a-z, 0-9, '_' or '-', starting with a "
            "letter or digit"
        )
    label = topic.label.strip()
    if not label or len(label) > 200:
        raise TopicValidationError("label must be 1-200 characters")
    keywords: list[str] = []
    seen: set[str] = set()
    for raw in topic.keywords:
        keyword = raw.strip()
        if not keyword:
            raise TopicValidationError("keywords must not be empty or blank")
        if len(keyword) > MAX_KEYWORD_LENGTH:
            raise TopicValidationError(
                f"a keyword may have at most {MAX_KEYWORD_LENGTH} characters"
            )
        folded = keyword.casefold()
        if folded not in seen:
            seen.add(folded)
            keywords.append(keyword)
    if not keywords:
        raise TopicValidationError("at least one keyword is required")
    if len(keywords) > MAX_KEYWORDS:
        raise TopicValidationError(f"at most {MAX_KEYWORDS} keywords per topic")
    return topic_id, label, keywords


async def _bump_version(account_id: str, now: datetime) -> None:
    await TopicSet.raw(
        "INSERT INTO ofca_topic_set (account_id, version, updated_at) VALUES ({}, 1, {}) "
        "ON CONFLICT (account_id) DO UPDATE SET version = ofca_topic_set.version + 1, "
        "updated_at = excluded.updated_at",
        account_id,
        now,
    )


def _view(rule: TopicRule, updated_at: datetime | None = None) -> TopicView:
    return TopicView(
        id=rule.id,
        label=rule.label,
        keywords=list(rule.keywords),
        builtin=rule.builtin,
        updated_at=updated_at,
    )


async def list_topics(account_id: str) -> list[TopicView]:
    """Built-in topics first (in taxonomy order), then the custom ones by id."""
    rows = await CustomTopic.raw(
        "SELECT topic_id, label, keywords, updated_at FROM ofca_custom_topic "
        "WHERE account_id = {} ORDER BY topic_id",
        account_id,
    )
    builtins = [_view(rule) for rule in DEFAULT_TOPICS]
    customs = [_view(rule_of(row), _as_datetime(row["updated_at"])) for row in rows]
    return builtins + customs


def _as_datetime(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _keywords_json(keywords: list[str]) -> str:
    return msgspec.json.encode(keywords).decode()


def _json_cell() -> str:
    return "{}::json" if isinstance(database(), PostgresEngine) else "{}"


async def create_topic(account_id: str, topic: TopicInput) -> TopicView:
    if topic.id is None:
        raise TopicValidationError("id is required")
    topic_id, label, keywords = _clean_input(topic, topic.id)
    if topic_id in BUILTIN_IDS:
        raise TopicConflict(f"topic id {topic_id!r} is a built-in topic; choose another id")
    now = datetime.now(UTC)
    engine = database()
    async with write_transaction(engine):
        await lock_derived_rows(engine, account_id)
        rows = await CustomTopic.raw(
            "SELECT topic_id FROM ofca_custom_topic WHERE account_id = {}", account_id
        )
        if any(row["topic_id"] == topic_id for row in rows):
            raise TopicConflict(f"topic {topic_id!r} exists already; use PUT to change it")
        if len(rows) >= MAX_CUSTOM_TOPICS:
            raise TopicValidationError(f"an account may have at most {MAX_CUSTOM_TOPICS} topics")
        await CustomTopic.raw(
            "INSERT INTO ofca_custom_topic "
            "(account_id, topic_id, label, keywords, created_at, updated_at) "
            f"VALUES ({{}}, {{}}, {{}}, {_json_cell()}, {{}}, {{}})",
            account_id,
            topic_id,
            label,
            _keywords_json(keywords),
            now,
            now,
        )
        await _bump_version(account_id, now)
    return TopicView(id=topic_id, label=label, keywords=keywords, builtin=False, updated_at=now)


def _refuse_builtin(topic_id: str) -> None:
    if topic_id in BUILTIN_IDS:
        raise TopicConflict(f"topic {topic_id!r} is built in and cannot be changed or deleted")


async def _require_custom_topic(account_id: str, topic_id: str) -> None:
    """404 unless the account has this custom topic (call inside the write transaction)."""
    existing = await CustomTopic.raw(
        "SELECT topic_id FROM ofca_custom_topic WHERE account_id = {} AND topic_id = {}",
        account_id,
        topic_id,
    )
    if not existing:
        raise TopicNotFound(f"no custom topic {topic_id!r} in this account")


async def update_topic(account_id: str, topic_id: str, topic: TopicInput) -> TopicView:
    _refuse_builtin(topic_id)
    if topic.id is not None and topic.id != topic_id:
        raise TopicValidationError("the id in the body must match the path (ids cannot change)")
    topic_id, label, keywords = _clean_input(topic, topic_id)
    now = datetime.now(UTC)
    engine = database()
    async with write_transaction(engine):
        await lock_derived_rows(engine, account_id)
        await _require_custom_topic(account_id, topic_id)
        await CustomTopic.raw(
            f"UPDATE ofca_custom_topic SET label = {{}}, keywords = {_json_cell()}, "
            "updated_at = {} WHERE account_id = {} AND topic_id = {}",
            label,
            _keywords_json(keywords),
            now,
            account_id,
            topic_id,
        )
        await _bump_version(account_id, now)
    return TopicView(id=topic_id, label=label, keywords=keywords, builtin=False, updated_at=now)


async def delete_topic(account_id: str, topic_id: str) -> None:
    _refuse_builtin(topic_id)
    engine = database()
    async with write_transaction(engine):
        await lock_derived_rows(engine, account_id)
        await _require_custom_topic(account_id, topic_id)
        await CustomTopic.raw(
            "DELETE FROM ofca_custom_topic WHERE account_id = {} AND topic_id = {}",
            account_id,
            topic_id,
        )
        await _bump_version(account_id, datetime.now(UTC))


# --------------------------------------------------------------------------- re-tagging


async def _apply_topic_updates(account_id: str, updates: list[tuple[str, str, int]]) -> None:
    """Write new topics; a message edited meanwhile (other version) is left to ingest."""
    if not updates:
        return
    postgres = isinstance(database(), PostgresEngine)
    for chunk in chunks(updates, 3000):
        if postgres:
            values = ", ".join(["({}, {}::json, {}::bigint)"] * len(chunk))
            sql = (
                "UPDATE ofca_message AS m SET topics = v.topics "
                f"FROM (VALUES {values}) AS v(message_id, topics, version) "
                "WHERE m.account_id = {} AND m.message_id = v.message_id "
                "AND m.version = v.version"
            )
        else:
            values = ", ".join(["({}, {}, {})"] * len(chunk))
            sql = (
                "UPDATE ofca_message SET topics = v.column2 "
                f"FROM (VALUES {values}) AS v "
                "WHERE ofca_message.account_id = {} AND ofca_message.message_id = v.column1 "
                "AND ofca_message.version = v.column3"
            )
        params: list[Any] = [value for row in chunk for value in row]
        await CustomTopic.raw(sql, *params, account_id)


async def retag_account(account_id: str, settings: Settings) -> int:
    """Re-match every stored message of the account against its current topics, then
    recompute the chats whose topics changed. Returns the number of messages changed.

    Stops early when the topic set changes meanwhile (the newer change re-tags again).
    """
    began = time.perf_counter()
    version = await topic_set_version(account_id)
    matcher = await matcher_for(account_id)
    changed = 0
    chats: set[str] = set()
    after = ""
    while True:
        rows = await CustomTopic.raw(
            "SELECT message_id, chat_id, text, topics, version FROM ofca_message "
            "WHERE account_id = {} AND message_id > {} ORDER BY message_id LIMIT {}",
            account_id,
            after,
            _RETAG_PAGE,
        )
        if not rows:
            break
        after = rows[-1]["message_id"]
        updates: list[tuple[str, str, int]] = []
        for row in rows:
            old = row["topics"]
            if isinstance(old, str):
                old = _TOPIC_LIST.decode(old) if old else []
            new = list(matcher.match(row["text"]))
            if sorted(old or ()) != new:
                updates.append((row["message_id"], _keywords_json(new), int(row["version"])))
                chats.add(row["chat_id"])
        if await topic_set_version(account_id) != version:
            log.info("re-tagging %s superseded by a newer topic change", account_id)
            return changed
        await _apply_topic_updates(account_id, updates)
        changed += len(updates)
    await refresh_chats(account_id, chats, settings=settings)
    log.info(
        "re-tagged %s: %d messages in %d chats changed, %.0f ms",
        account_id,
        changed,
        len(chats),
        (time.perf_counter() - began) * 1000,
    )
    return changed


_background: set[asyncio.Task[int]] = set()


async def _message_count(account_id: str) -> int:
    rows = await CustomTopic.raw(
        "SELECT count(*) AS n FROM ofca_message WHERE account_id = {}", account_id
    )
    return int(rows[0]["n"])


async def schedule_retag(account_id: str, settings: Settings) -> Literal["done", "scheduled"]:
    """Re-tag now (``"done"``) or, for large accounts, in a background task
    (``"scheduled"``)."""
    if await _message_count(account_id) <= RETAG_INLINE_LIMIT:
        await retag_account(account_id, settings)
        return "done"
    task = asyncio.create_task(retag_account(account_id, settings))
    _background.add(task)
    task.add_done_callback(_finished)
    return "scheduled"


def _finished(task: asyncio.Task[int]) -> None:
    _background.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("background re-tagging failed: %r", task.exception())
