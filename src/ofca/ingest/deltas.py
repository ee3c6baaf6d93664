"""Deltas (``new_raw_message``): enrich, store a run of them with one commit, publish.

The extension socket hands over the deltas that queued up while the previous ones were
stored (group commit): they are enriched, written in one transaction (a repeated id starts
the next one, so a resend within the run is still told apart as a duplicate or an edit),
and acknowledged one by one in arrival order after the commit. Duplicates write and
publish nothing; edits update the row in place.

Then each new or edited message becomes an ``append_message`` with its chat's node
(``ofca.conversations.live_nodes``: the chat's summary read once for the whole run, plus the
row just written) and the run's frames go out as one channel message. A connection's runs
are published in order by a :class:`RunPublisher`, while its next run is being stored.
The touched chats' insight rows are refreshed shortly after (``ingest.schedule_refresh``),
followed by ``analytics_update``.

Topics are tagged with the matcher this process last used for the account; the write
checks its version under the account's lock and, when the topic set changed meanwhile,
the run is tagged again with the new rules and written then (``TopicsChanged``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec

from ofca.channels.publish import publish_events
from ofca.domain.enrichment import TopicMatcher, enrich
from ofca.domain.normalize import NormalizedMessage, normalize_message
from ofca.domain.onlyfans import Message
from ofca.domain.wss import (
    IngestAckPayload,
    MessageView,
    RejectedItem,
)
from ofca.ingest import commands
from ofca.ingest.context import IngestContext, account_writer, known_fan, remember_fan
from ofca.ingest.decode import content_hash
from ofca.ingest.store import (
    MESSAGE_COLUMNS,
    TopicsChanged,
    UpsertOutcome,
    bare_chat_record,
    known_chats,
    upsert_frame,
)
from ofca.persistence import topic_rules
from ofca.persistence.refresh_marks import widen_since

__all__ = [
    "RunPublisher",
    "StoredRun",
    "ingest_delta",
    "ingest_deltas",
    "publish_run",
    "store_deltas",
]

log = logging.getLogger(__name__)

TOPIC_RETRIES = 3
"""Topic-set changes tolerated while one run is written (each one re-tags the run)."""

_ENCODE = msgspec.json.encode


def delta_row(
    account_id: str,
    normalized: NormalizedMessage,
    raw: bytes,
    matcher: TopicMatcher,
    now: datetime,
    source: str = "onlyfans",
) -> tuple:
    """The ``MESSAGE_COLUMNS`` row of a delta, enriched before it is stored (a delta is
    broadcast right away, so it must not wait for background enrichment)."""
    enrichment = enrich(normalized.raw_text, matcher)
    return (
        account_id,
        normalized.message_id,
        normalized.chat_id,
        normalized.direction,
        normalized.created_at,
        normalized.changed_at,
        enrichment.text,
        raw.decode("utf-8"),
        content_hash(raw),
        normalized.from_user_id,
        normalized.is_tip,
        normalized.price,
        normalized.media_count,
        source,
        enrichment.sentiment,
        _ENCODE(list(enrichment.topics)).decode(),
        True,
        now,
        1,
    )


_COLUMN = {name: index for index, name in enumerate(MESSAGE_COLUMNS)}
_TOPICS = msgspec.json.Decoder(list[str])


def message_view(row: tuple, command_id: str | None) -> MessageView:
    """The dashboards' view of a row just written (as ``conversation_queries.message_view``
    makes it from a stored one)."""
    return MessageView(
        id=row[_COLUMN["message_id"]],
        chat_id=row[_COLUMN["chat_id"]],
        text=row[_COLUMN["text"]],
        created_at=row[_COLUMN["created_at"]],
        changed_at=row[_COLUMN["changed_at"]],
        direction=row[_COLUMN["direction"]],
        sentiment=row[_COLUMN["sentiment"]],
        topics=_TOPICS.decode(row[_COLUMN["topics"]]),
        is_tip=bool(row[_COLUMN["is_tip"]]),
        price=row[_COLUMN["price"]],
        media_count=int(row[_COLUMN["media_count"]] or 0),
        enriched=bool(row[_COLUMN["enriched"]]),
        command_id=command_id,
    )


class _Group(msgspec.Struct):
    """Deltas with distinct ids, written in one transaction."""

    new_chats: list[tuple] = []
    normalized: list[tuple[int, NormalizedMessage, bytes]] = []
    rows: list[tuple] = []


def _rejected(message_id: str) -> IngestAckPayload:
    return IngestAckPayload(
        frame="new_raw_message",
        accepted=0,
        duplicates=0,
        updated=0,
        rejected=1,
        rejected_items=[RejectedItem(message_id=message_id, reason="missing chat_id")],
    )


async def _fans(ctx: IngestContext, chat_ids: set[str]) -> dict[str, str | None]:
    """Fan id per known chat (cached per process; fans of a chat never change)."""
    fans: dict[str, str | None] = {}
    unknown: list[str] = []
    for chat_id in chat_ids:
        fan_id = known_fan(ctx.account_id, chat_id)
        if fan_id is None:
            unknown.append(chat_id)
        else:
            fans[chat_id] = fan_id
    if unknown:
        for chat_id, fan_id in (await known_chats(ctx.engine, ctx.account_id, unknown)).items():
            fans[chat_id] = fan_id
            remember_fan(ctx.account_id, chat_id, fan_id)
    return fans


async def _store(
    ctx: IngestContext, group: _Group, version: int, matcher: TopicMatcher, now: datetime
) -> tuple[UpsertOutcome, int, TopicMatcher]:
    """Write one group, tagging it again when the account's topic set changed."""
    for _ in range(TOPIC_RETRIES):
        group.rows = [
            delta_row(ctx.account_id, normalized, raw, matcher, now)
            for _, normalized, raw in group.normalized
        ]
        try:
            async with account_writer(ctx.account_id):
                outcome = await upsert_frame(
                    ctx.engine,
                    ctx.account_id,
                    new_chats=group.new_chats,
                    messages=group.rows,
                    topic_version=version,
                )
            return outcome, version, matcher
        except TopicsChanged as changed:
            version = changed.version
            matcher = await topic_rules.matcher_at(ctx.account_id, version)
    group.rows = [
        delta_row(ctx.account_id, normalized, raw, matcher, now)
        for _, normalized, raw in group.normalized
    ]
    async with account_writer(ctx.account_id):  # topics keep changing: tag as of now
        outcome = await upsert_frame(
            ctx.engine, ctx.account_id, new_chats=group.new_chats, messages=group.rows
        )
    return outcome, version, matcher


class StoredRun(msgspec.Struct):
    """A committed run of deltas: its acks, and what :func:`publish_run` publishes."""

    acks: list[IngestAckPayload]
    changed: list[tuple[int, tuple, str | None]]
    """(index in the run, row written, command already linked) of each new or edited one."""
    edited: set[int]


async def ingest_deltas(
    ctx: IngestContext, items: Sequence[tuple[Message, bytes]]
) -> list[IngestAckPayload]:
    """Store consecutive deltas of one connection (message, its raw JSON) with one commit;
    one ack per delta, in order, then ``append_message`` for each new or edited one."""
    run = await store_deltas(ctx, items)
    await publish_run(ctx, run)
    return run.acks


async def store_deltas(ctx: IngestContext, items: Sequence[tuple[Message, bytes]]) -> StoredRun:
    """Store consecutive deltas of one connection with one commit; returns one ack per delta,
    in order. Publish the run with :func:`publish_run` (in the order runs were stored)."""
    began = time.perf_counter()
    account_id = ctx.account_id
    now = datetime.now(UTC)
    fans = await _fans(ctx, {str(m.chat_id) for m, _ in items if m.chat_id is not None})
    groups: list[_Group] = [_Group()]
    in_group: set[str] = set()
    new_chat_at: set[int] = set()
    for index, (message, raw) in enumerate(items):
        if message.chat_id is None:
            continue
        chat_id, message_id = str(message.chat_id), str(message.id)
        if message_id in in_group:
            groups.append(_Group())
            in_group = set()
        in_group.add(message_id)
        group = groups[-1]
        if chat_id not in fans:
            fans[chat_id] = None
            group.new_chats.append(bare_chat_record(account_id, chat_id, now))
            new_chat_at.add(index)
        group.normalized.append((index, normalize_message(message, chat_id, fans[chat_id]), raw))

    version, matcher = await topic_rules.last_known_matcher(account_id)
    kinds: dict[int, str] = {}
    changed: list[tuple[int, tuple, str | None]] = []  # (index, row, stored command id)
    for group in groups:
        if not group.normalized:
            continue
        outcome, version, matcher = await _store(ctx, group, version, matcher, now)
        inserted, updated = set(outcome.inserted), set(outcome.updated)
        for (index, normalized, _), row in zip(group.normalized, group.rows, strict=True):
            message_id = normalized.message_id
            kind = (
                "inserted" if message_id in inserted else "updated" if message_id in updated else ""
            )
            kinds[index] = kind
            if kind:
                changed.append((index, row, outcome.command_ids.get(message_id)))

    acks: list[IngestAckPayload] = []
    for index, (message, _) in enumerate(items):
        if message.chat_id is None:
            acks.append(_rejected(str(message.id)))
            continue
        kind = kinds.get(index, "")
        acks.append(
            IngestAckPayload(
                frame="new_raw_message",
                accepted=int(kind == "inserted"),
                duplicates=int(kind == ""),
                updated=int(kind == "updated"),
                rejected=0,
                chats=int(index in new_chat_at),
            )
        )
    if changed:
        changed = await _link_commands(ctx, changed)
    duration_ms = round((time.perf_counter() - began) * 1000, 2)
    for ack in acks:
        ack.duration_ms = duration_ms
    return StoredRun(acks, changed, {i for i, _, _ in changed if kinds[i] == "updated"})


async def _link_commands(
    ctx: IngestContext, changed: list[tuple[int, tuple, str | None]]
) -> list[tuple[int, tuple, str | None]]:
    """Link the run's new outbound messages to the dashboard commands that produced them
    (before the acks: a client that reads the message after its ack sees the link)."""
    candidates = [
        commands.LinkCandidate(
            row[_COLUMN["message_id"]],
            row[_COLUMN["chat_id"]],
            row[_COLUMN["text"]],
            row[_COLUMN["created_at"]],
            row[_COLUMN["ingested_at"]],
        )
        for _, row, command_id in changed
        if row[_COLUMN["direction"]] == "outbound" and command_id is None
    ]
    if not candidates:
        return changed
    try:
        links = await commands.link_outbound(ctx.account_id, candidates)
    except Exception:  # stored all the same; the message stays unlinked
        log.exception("linking commands of %s failed", ctx.account_id)
        return changed
    return [
        (index, row, command_id or links.get(row[_COLUMN["message_id"]]))
        for index, row, command_id in changed
    ]


async def publish_run(ctx: IngestContext, run: StoredRun) -> None:
    """``append_message`` for each new or edited delta of a committed run, then its chats'
    insight refresh. Never raises: the run is stored, and a resend would be a duplicate
    (which publishes nothing), so a failure here is logged, not reported."""
    if not run.changed:
        return
    try:
        await _publish(ctx, run.changed, run.edited)
    except Exception:
        log.exception("%d deltas of %s stored; publishing failed", len(run.changed), ctx.account_id)
    ctx.insights.schedule_refresh(ctx.account_id, refresh_scope(run))


def refresh_scope(run: StoredRun) -> dict[str, datetime | None]:
    """The chats a run changed, each with the instant its changes start at: the earliest
    time of its new messages, or None (refresh the whole chat) when one was an edit (its
    old time is not known here) or has no usable time."""
    since: dict[str, datetime | None] = {}
    for index, row, _ in run.changed:
        created_at = row[_COLUMN["created_at"]]
        widen_since(since, row[_COLUMN["chat_id"]], None if index in run.edited else created_at)
    return since


_publishing: set[asyncio.Task[None]] = set()


class RunPublisher:
    """Publishes one connection's stored runs in the order they were stored, in the
    background: the next run is written while the previous one's nodes are read and its
    frames go out. Runs stored while a publication is under way are published together
    next (one node query and one channel message for all of them, still in order), so a
    publication that takes longer than a store does not fall further behind each time."""

    def __init__(self, ctx: IngestContext) -> None:
        self._ctx = ctx
        self._pending: list[StoredRun] = []
        self._task: asyncio.Task[None] | None = None

    def publish(self, run: StoredRun) -> None:
        if not run.changed:
            return
        self._pending.append(run)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._publish_pending())
            _publishing.add(self._task)
            self._task.add_done_callback(_publishing.discard)

    async def _publish_pending(self) -> None:
        while self._pending:
            runs, self._pending = self._pending, []
            await publish_run(self._ctx, merged_runs(runs))  # never raises

    async def drain(self) -> None:
        """Wait until every run handed over so far is published."""
        if self._task is not None:
            await self._task


def merged_runs(runs: Sequence[StoredRun]) -> StoredRun:
    """Consecutive runs as one (their changes in order; acks are already sent)."""
    if len(runs) == 1:
        return runs[0]
    changed: list[tuple[int, tuple, str | None]] = []
    edited: set[int] = set()
    for run in runs:
        for index, row, command_id in run.changed:
            if index in run.edited:
                edited.add(len(changed))
            changed.append((len(changed), row, command_id))
    return StoredRun([], changed, edited)


async def ingest_delta(ctx: IngestContext, message: Message, raw: bytes) -> IngestAckPayload:
    """One delta on its own (see :func:`ingest_deltas`)."""
    return (await ingest_deltas(ctx, [(message, raw)]))[0]


async def _publish(
    ctx: IngestContext, changed: list[tuple[int, tuple, str | None]], edited: set[int]
) -> None:
    """One ``append_message`` per change, in arrival order, all in one channel message."""
    changes = [
        (message_view(row, command_id), index in edited) for index, row, command_id in changed
    ]
    frames = await ctx.feed.append_frames(ctx.account_id, changes)
    publish_events(ctx.channels, ctx.account_id, frames)
