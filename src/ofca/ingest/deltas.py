"""Deltas (``new_raw_message``): enrich, store a run of them with one commit, publish.

The extension socket hands over the deltas that queued up while the previous ones were
stored (group commit): they are enriched, written in one transaction (a repeated id starts
the next one, so a resend within the run is still told apart as a duplicate or an edit),
and acknowledged one by one in arrival order after the commit. Duplicates write and
publish nothing; edits update the row in place. The write path is the one every source
takes (``ingest.write``).

Then each new or edited message becomes an ``append_message`` with its chat's node
(``ofca.conversations.live_nodes``: the chat's summary read once for the whole run, plus the
record just written) and the run's frames go out as one channel message. A connection's
runs are published in order by a :class:`RunPublisher`, while its next run is being
stored. The chats the run marked due are refreshed shortly after (the insights'
``RefreshScheduler``), followed by ``analytics_update``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec

from ofca.domain.normalize import normalize_message
from ofca.domain.onlyfans import Message
from ofca.domain.records import StoredChat, StoredMessage, bare_chat_record
from ofca.domain.storable import REASON_REFUSED, message_refusal
from ofca.domain.wss import IngestAckPayload, RejectedItem
from ofca.ingest.context import IngestContext, ValueRefused, known_fan, log_frame, remember_fan
from ofca.ingest.store import InTransaction, UpsertOutcome, known_chats
from ofca.ingest.write import Change, Received, link_commands, publish_changes, store_enriched
from ofca.persistence.refresh_marks import widen_since

__all__ = [
    "LOG_EVERY_SECONDS",
    "RunPublisher",
    "StoredRun",
    "merged_runs",
    "publish_run",
    "store_deltas",
]

log = logging.getLogger(__name__)

LOG_EVERY_SECONDS = 10.0
"""A socket's deltas make one ``ofca_ingest_log`` line per this many seconds (a line per
delta would cost about as much CPU as storing it)."""


class _Group(msgspec.Struct):
    """Deltas with distinct ids, written in one transaction."""

    new_chats: list[StoredChat] = []
    positions: list[int] = []
    received: list[Received] = []


def _rejected(message_id: str, reason: str) -> IngestAckPayload:
    return IngestAckPayload(
        frame="new_raw_message",
        accepted=0,
        duplicates=0,
        updated=0,
        rejected=1,
        rejected_items=[RejectedItem(message_id=message_id, reason=reason)],
    )


def _refusal(message: Message) -> str | None:
    """Why a delta is refused before anything is written (``domain.storable``)."""
    return "missing chat_id" if message.chat_id is None else message_refusal(message)


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


class StoredRun(msgspec.Struct):
    """A committed run of deltas: its acks, and what :func:`publish_run` publishes."""

    acks: list[IngestAckPayload]
    changed: list[Change]
    """(index in the run, record written, command linked) of each new or edited one."""
    edited: set[int]
    due: dict[str, datetime | None] = {}
    """The chats the run marked due for an insight refresh (``UpsertOutcome.due``)."""
    frame_bytes: int = 0


def _grouped(
    account_id: str,
    items: Sequence[tuple[Message, bytes]],
    fans: dict[str, str | None],
    now: datetime,
    refusals: Sequence[str | None],
) -> tuple[list[_Group], set[int]]:
    """The run in groups of distinct ids (a repeated id starts the next group), and the
    positions of the deltas that bring a chat not stored yet (created bare with them).
    Deltas with a refusal (``refusals``, by position) are left out."""
    groups: list[_Group] = [_Group()]
    in_group: set[str] = set()
    new_chat_at: set[int] = set()
    for index, (message, raw) in enumerate(items):
        if refusals[index] is not None:
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
        group.positions.append(index)
        group.received.append((normalize_message(message, chat_id, fans[chat_id]), raw))
    return [group for group in groups if group.received], new_chat_at


_Stored = tuple[list[int], UpsertOutcome, list[StoredMessage]]
"""Positions in the run, what the write did, the records written."""


async def _store_group(
    ctx: IngestContext,
    group: _Group,
    now: datetime,
    refused: set[int],
    in_transaction: InTransaction | None = None,
) -> list[_Stored]:
    """Write a group in one transaction. When the database refuses a value of it (one the
    checks of ``domain.storable`` did not foresee), nothing of it was written: then each
    message is written on its own, so only the one carrying the value is refused (its
    position goes to ``refused``) and the others are stored. ``in_transaction`` runs in
    the group's transaction only (not in those of the messages written one by one)."""
    try:
        outcome, records = await store_enriched(
            ctx,
            group.received,
            source="onlyfans",
            now=now,
            new_chats=group.new_chats,
            in_transaction=in_transaction,
        )
        return [(group.positions, outcome, records)]
    except ValueRefused:
        if len(group.received) == 1:
            refused.add(group.positions[0])
            return []
    log.warning(
        "a value of %d deltas of %s was refused; writing them one by one",
        len(group.received),
        ctx.account_id,
    )
    stored: list[_Stored] = []
    for position, received in zip(group.positions, group.received, strict=True):
        chat_id = received[0].chat_id
        single = _Group(
            new_chats=[chat for chat in group.new_chats if chat.chat_id == chat_id],
            positions=[position],
            received=[received],
        )
        stored += await _store_group(ctx, single, now, refused)
    return stored


async def store_deltas(
    ctx: IngestContext,
    items: Sequence[tuple[Message, bytes]],
    frame_bytes: int = 0,
    in_transaction: InTransaction | None = None,
) -> StoredRun:
    """Store consecutive deltas of one connection with one commit; returns one ack per delta,
    in order. Publish the run with :func:`publish_run` (in the order runs were stored).
    ``in_transaction`` runs in the transaction of every group of distinct ids (the caller
    passes it for runs of one group: ``ingest.extension``)."""
    began = time.perf_counter()
    now = datetime.now(UTC)
    refusals = [_refusal(message) for message, _ in items]
    fans = await _fans(
        ctx, {str(m.chat_id) for (m, _), no in zip(items, refusals, strict=True) if no is None}
    )
    groups, new_chat_at = _grouped(ctx.account_id, items, fans, now, refusals)
    kinds: dict[int, str] = {}
    changed: list[Change] = []
    due: dict[str, datetime | None] = {}
    refused: set[int] = set()
    for group in groups:
        stored = await _store_group(ctx, group, now, refused, in_transaction)
        for positions, outcome, records in stored:
            inserted, updated = set(outcome.inserted), set(outcome.updated)
            for index, record in zip(positions, records, strict=True):
                message_id = record.message_id
                kind = (
                    "inserted"
                    if message_id in inserted
                    else "updated"
                    if message_id in updated
                    else ""
                )
                kinds[index] = kind
                if kind:
                    changed.append((index, record, outcome.command_ids.get(message_id)))
            for chat_id, since in outcome.due.items():
                widen_since(due, chat_id, since)

    acks: list[IngestAckPayload] = []
    for index, (message, _) in enumerate(items):
        reason = REASON_REFUSED if index in refused else refusals[index]
        if reason is not None:
            acks.append(_rejected(str(message.id), reason))
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
        changed = await link_commands(ctx, changed)
    duration_ms = round((time.perf_counter() - began) * 1000, 2)
    for ack in acks:
        ack.duration_ms = duration_ms
    edited = {index for index, _, _ in changed if kinds[index] == "updated"}
    return StoredRun(acks, changed, edited, due, frame_bytes)


async def publish_run(ctx: IngestContext, run: StoredRun) -> None:
    """``append_message`` for each new or edited delta of a committed run, then its chats'
    insight refresh. Never raises: the run is stored, and a resend would be a duplicate
    (which publishes nothing), so a failure here is logged, not reported."""
    if not run.changed:
        return
    try:
        await publish_changes(ctx, run.changed, run.edited)
    except Exception:
        log.exception("%d deltas of %s stored; publishing failed", len(run.changed), ctx.account_id)
    if run.due:
        ctx.insights.schedule_refresh(ctx.account_id, run.due)


class _LogLine(msgspec.Struct):
    """The counts of a socket's deltas for one ``ofca_ingest_log`` line."""

    received_at: datetime
    began: float
    accepted: int = 0
    duplicates: int = 0
    updated: int = 0
    rejected: int = 0
    frame_bytes: int = 0
    duration_ms: float = 0.0

    def add(self, run: StoredRun) -> None:
        for ack in run.acks:
            self.accepted += ack.accepted
            self.duplicates += ack.duplicates
            self.updated += ack.updated
            self.rejected += ack.rejected
        self.frame_bytes += run.frame_bytes
        self.duration_ms += run.acks[0].duration_ms if run.acks else 0.0

    def due(self) -> bool:
        return time.monotonic() - self.began >= LOG_EVERY_SECONDS

    async def write(self, account_id: str) -> None:
        await log_frame(
            account_id,
            "extension",
            "new_raw_message",
            accepted=self.accepted,
            duplicates=self.duplicates,
            updated=self.updated,
            rejected=self.rejected,
            frame_bytes=self.frame_bytes,
            duration_ms=round(self.duration_ms, 2),
            received_at=self.received_at,
        )


_publishing: set[asyncio.Task[None]] = set()


class RunPublisher:
    """Publishes one connection's stored runs in the order they were stored, in the
    background: the next run is written while the previous one's nodes are read and its
    frames go out. Runs stored while a publication is under way are published together
    next (one node query and one channel message for all of them, still in order), so a
    publication that takes longer than a store does not fall further behind each time.

    It also keeps the connection's ingest log: one line per :data:`LOG_EVERY_SECONDS` of
    stored runs, written between publications, and the rest when the connection ends
    (:meth:`close`)."""

    def __init__(self, ctx: IngestContext) -> None:
        self._ctx = ctx
        self._pending: list[StoredRun] = []
        self._task: asyncio.Task[None] | None = None
        self._log: _LogLine | None = None

    def publish(self, run: StoredRun) -> None:
        if self._log is None:
            self._log = _LogLine(datetime.now(UTC), time.monotonic())
        self._log.add(run)
        if run.changed:
            self._pending.append(run)
        elif not self._log.due():
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._publish_pending())
            _publishing.add(self._task)
            self._task.add_done_callback(_publishing.discard)

    async def _publish_pending(self) -> None:
        while self._pending or (self._log is not None and self._log.due()):
            if not self._pending:
                await self._write_log()  # never raises; runs stored meanwhile come next
                continue
            runs, self._pending = self._pending, []
            await publish_run(self._ctx, merged_runs(runs))  # never raises

    async def _write_log(self) -> None:
        line, self._log = self._log, None
        if line is not None:
            await line.write(self._ctx.account_id)  # never raises

    async def drain(self) -> None:
        """Wait until every run handed over so far is published."""
        if self._task is not None:
            await self._task

    async def close(self) -> None:
        """Publish what is left and write the last ingest log line."""
        await self.drain()
        await self._write_log()


def merged_runs(runs: Sequence[StoredRun]) -> StoredRun:
    """Consecutive runs as one (their changes in order; acks are already sent)."""
    if len(runs) == 1:
        return runs[0]
    changed: list[Change] = []
    edited: set[int] = set()
    due: dict[str, datetime | None] = {}
    for run in runs:
        for index, record, command_id in run.changed:
            if index in run.edited:
                edited.add(len(changed))
            changed.append((len(changed), record, command_id))
        for chat_id, since in run.due.items():
            widen_since(due, chat_id, since)
    return StoredRun([], changed, edited, due)
