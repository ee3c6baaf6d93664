"""Snapshots (``cache_update``): decode, normalize, store atomically, enrich, publish.

Each message's raw JSON is kept exactly as received and hashed: same hash as stored =
duplicate (nothing written), another hash = edit (updated in place, ``version`` + 1,
re-enriched), unknown id = new. Everything of one frame is written in one transaction
(``ingest.store``). Enrichment of the changed messages then runs in the background in
small time slices, and dashboards are told (``system_status`` progress,
``enrichment_result``, ``analytics_update``, a resync).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import msgspec

from ofca.channels.publish import (
    ControlEvent,
    publish_control,
    publish_to_dashboards,
    status_frame,
)
from ofca.domain.frames import FrameError, RawSnapshotPayload, SnapshotFrame, decode_frame
from ofca.domain.normalize import normalize_chat, normalize_message
from ofca.domain.onlyfans import Message
from ofca.domain.records import StoredChat, StoredMessage, chat_record, message_record
from ofca.domain.storable import chat_refusal, message_refusal
from ofca.domain.wss import (
    EnrichmentResult,
    EnrichmentResultPayload,
    IngestAckPayload,
    MessageEnrichment,
    RejectedItem,
)
from ofca.ingest.context import FrameRejected, IngestContext, log_frame, matcher_for, remember_fan
from ofca.ingest.decode import decode_snapshot
from ofca.ingest.enrich import SpeculativeEnrichment
from ofca.ingest.store import EnrichmentRow, InTransaction, known_chats
from ofca.ingest.unenriched import enrich_unenriched, write_enrichment_rows
from ofca.ingest.write import store
from ofca.loop import SLICE_SECONDS, GcPause, free, gc_paused

__all__ = ["ingest_snapshot", "store_snapshot", "wait_enriched"]

log = logging.getLogger(__name__)

SCAN_CHUNK = 10_000
"""Messages looked at per slice by a simple scan (~3 ms)."""
ENRICH_WRITE_ROWS = 5000
"""Enriched messages written (and reported) per batch."""
INLINE_ENRICHMENT_LIMIT = 1000
"""Snapshots changing at most this many messages report each enrichment individually."""

Progress = Callable[[float], Awaitable[None]]


_pending_jobs: set[asyncio.Task[None]] = set()


async def wait_enriched() -> None:
    """Wait until this process's background enrichment jobs are done (demo, benches)."""
    while _pending_jobs:
        await asyncio.gather(*list(_pending_jobs), return_exceptions=True)


async def ingest_snapshot(
    ctx: IngestContext, data: bytes, progress: Progress | None = None
) -> IngestAckPayload:
    """Store an encoded ``cache_update`` frame (the demo, benches): see :func:`store_snapshot`."""
    decoded = decode_frame(data)
    if isinstance(decoded, FrameError):
        raise FrameRejected(decoded.code, decoded.message, decoded.detail)
    if not isinstance(decoded.frame, SnapshotFrame):
        raise FrameRejected("unhandled_type", "Not a snapshot", "expected a cache_update")
    return await store_snapshot(ctx, decoded.frame.payload, len(data), progress)


async def store_snapshot(
    ctx: IngestContext,
    payload: RawSnapshotPayload,
    frame_bytes: int,
    progress: Progress | None = None,
    in_transaction: InTransaction | None = None,
) -> IngestAckPayload:
    """Store a ``cache_update`` atomically; returns the ack (enrichment continues after).
    ``in_transaction`` runs in the transaction that writes it."""
    # A turn of the loop first: the frame's arrival already cost this turn tens of ms (the
    # socket layer's UTF-8 round trip of the whole frame, its decoding into raw items).
    await asyncio.sleep(0)
    with gc_paused():
        return await _store_snapshot(ctx, payload, frame_bytes, progress, in_transaction)


async def _store_snapshot(
    ctx: IngestContext,
    payload: RawSnapshotPayload,
    frame_bytes: int,
    progress: Progress | None,
    in_transaction: InTransaction | None,
) -> IngestAckPayload:
    began = time.perf_counter()
    account_id = ctx.account_id

    async def report(fraction: float) -> None:
        if progress is not None:
            await progress(fraction)

    chats, messages, raws = await decode_snapshot(payload)
    await report(0.2)
    now = datetime.now(UTC)

    chat_records: dict[str, StoredChat] = {}
    fans: dict[str, str | None] = {}
    refused_chats: dict[str, str] = {}
    for chat in chats:
        if (reason := chat_refusal(chat)) is not None:
            refused_chats[chat.resolved_id] = reason
            continue
        normalized_chat = normalize_chat(chat)
        chat_id = normalized_chat.chat_id
        chat_records[chat_id] = chat_record(account_id, normalized_chat, now, "onlyfans")
        fans[chat_id] = normalized_chat.fan_id
    referenced: set[str] = set()
    refusals: dict[int, str] = {}
    """Messages the database would refuse, by position (``domain.storable``)."""
    for start in range(0, len(messages), SCAN_CHUNK):
        for index in range(start, min(start + SCAN_CHUNK, len(messages))):
            message = messages[index]
            if (reason := message_refusal(message)) is not None:
                refusals[index] = reason
            elif message.chat_id is not None and (chat_id := str(message.chat_id)) not in fans:
                if chat_id in refused_chats:
                    refusals[index] = f"chat {chat_id}: {refused_chats[chat_id]}"
                else:
                    referenced.add(chat_id)
        await asyncio.sleep(0)
    if referenced:
        fans.update(await known_chats(ctx.engine, account_id, sorted(referenced)))

    built = await _message_records(account_id, messages, raws, fans, refusals, now, report)
    # The decoded frame is freed a slice at a time: freeing its million objects at once
    # (when this function returned) held the loop for ~40 ms.
    await free(messages)
    await free(raws)
    await report(0.6)
    # The worker process enriches while this one waits on the database.
    speculative = SpeculativeEnrichment(list(built.texts), await matcher_for(account_id))
    records, raw_texts, rejected = built.records, built.raw_texts, built.rejected
    built_duplicates = built.duplicates
    del built

    outcome = await store(
        ctx,
        list(records.values()),
        chats=list(chat_records.values()),
        in_transaction=in_transaction,
    )
    for chat_id, fan_id in fans.items():
        remember_fan(account_id, chat_id, fan_id)
    await report(1.0)

    changed = [records[mid] for mid in (*outcome.inserted, *outcome.updated)]
    stored_rows = len(records)
    await free(records)
    ack = IngestAckPayload(
        frame="cache_update",
        accepted=len(outcome.inserted),
        duplicates=stored_rows - len(changed) + built_duplicates,
        updated=len(outcome.updated),
        rejected=len(rejected),
        chats=len(chat_records),
        rejected_items=rejected[:100],
        duration_ms=round((time.perf_counter() - began) * 1000, 1),
    )
    log.info(
        "snapshot of %s: %d new, %d updated, %d duplicates, %d rejected in %.0f ms",
        account_id,
        ack.accepted,
        ack.updated,
        ack.duplicates,
        ack.rejected,
        ack.duration_ms,
    )
    await log_frame(
        account_id,
        "extension",
        "cache_update",
        accepted=ack.accepted,
        duplicates=ack.duplicates,
        updated=ack.updated,
        rejected=ack.rejected,
        frame_bytes=frame_bytes,
        duration_ms=ack.duration_ms,
    )
    if changed or chat_records:
        # Dashboards see the stored (not yet enriched) data at once; enrichment follows.
        publish_control(
            ctx.channels, ControlEvent(action="resync", account_id=account_id), extension=False
        )
        _start_enrichment(ctx, changed, raw_texts, outcome.due, speculative)
    else:  # nothing changed: still finish what earlier snapshots left unenriched
        _start_leftovers(ctx)
    return ack


def _start_leftovers(ctx: IngestContext) -> None:
    async def leftovers() -> None:
        try:
            await enrich_unenriched(ctx)
        except Exception:
            log.exception("enriching the queued messages of %s failed", ctx.account_id)

    job = asyncio.create_task(leftovers())
    _pending_jobs.add(job)
    job.add_done_callback(_pending_jobs.discard)


class _Records(msgspec.Struct):
    """A snapshot's messages as records (the later copy of an id in the frame wins)."""

    records: dict[str, StoredMessage] = {}
    raw_texts: dict[str, str | None] = {}
    """The platform's text of each message, for its enrichment (its record's ``text`` is
    written with the enrichment, off the ack path)."""
    texts: dict[str | None, None] = {}
    """The distinct texts, in order."""
    rejected: list[RejectedItem] = []
    duplicates: int = 0
    """Copies of an id already in the frame."""


async def _message_records(
    account_id: str,
    messages: list[Message],
    raws: list[msgspec.Raw],
    fans: dict[str, str | None],
    refusals: dict[int, str],
    now: datetime,
    report: Progress,
) -> _Records:
    built = _Records()
    records, raw_texts, texts, rejected = (
        built.records,
        built.raw_texts,
        built.texts,
        built.rejected,
    )
    slice_start = time.perf_counter()
    for index, message in enumerate(messages):
        message_id = str(message.id)
        if message.chat_id is None:
            rejected.append(RejectedItem(message_id=message_id, reason="missing chat_id"))
            continue
        if (refusal := refusals.get(index)) is not None:
            rejected.append(RejectedItem(message_id=message_id, reason=refusal))
            continue
        chat_id = str(message.chat_id)
        if chat_id not in fans:
            rejected.append(RejectedItem(message_id=message_id, reason=f"unknown chat {chat_id}"))
            continue
        normalized = normalize_message(message, chat_id, fans[chat_id])
        if message_id in records:
            built.duplicates += 1
        records[message_id] = message_record(
            account_id, normalized, bytes(raws[index]), "onlyfans", now
        )
        raw_texts[message_id] = normalized.raw_text
        texts[normalized.raw_text] = None
        if index % 256 == 0 and time.perf_counter() - slice_start > SLICE_SECONDS:
            await report(0.2 + 0.4 * index / max(len(messages), 1))
            await asyncio.sleep(0)
            slice_start = time.perf_counter()
    return built


def _start_enrichment(
    ctx: IngestContext,
    changed: list[StoredMessage],
    raw_texts: dict[str, str | None],
    due: dict[str, datetime | None],
    speculative: SpeculativeEnrichment,
) -> None:
    """Enrich the snapshot's changed messages in the background (:func:`_enrich_snapshot`)."""
    # The job's pause of garbage collection starts now, before the snapshot's ends: else
    # the collection that re-enabling triggers walks every object of the snapshot still
    # held for enrichment (100+ ms holding the loop) just before the job pauses it.
    gc_pause = GcPause().hold()
    try:
        job = asyncio.create_task(
            _enrich_snapshot(ctx, changed, raw_texts, due, speculative, gc_pause)
        )
    except BaseException:
        gc_pause.release()
        raise
    _pending_jobs.add(job)
    job.add_done_callback(_pending_jobs.discard)
    job.add_done_callback(lambda _: gc_pause.release())  # also if cancelled unstarted


async def _enrich_snapshot(
    ctx: IngestContext,
    changed: list[StoredMessage],
    raw_texts: dict[str, str | None],
    due: dict[str, datetime | None],
    speculative: SpeculativeEnrichment,
    gc_pause: GcPause,
) -> None:
    """Enrich, store and report the ``changed`` messages (``raw_texts``: the platform's text
    of each), then refresh the insight rows of the chats the snapshot marked ``due``.
    ``gc_pause`` is held for this job, which releases it."""
    account_id = ctx.account_id
    total = len(changed)
    began = time.perf_counter()
    try:
        enriched_texts = await speculative.results()
        batch: list[EnrichmentRow] = []
        inline: list[MessageEnrichment] = []
        slice_start = time.perf_counter()
        for done, record in enumerate(changed, start=1):
            text, sentiment, topic_ids = enriched_texts[raw_texts[record.message_id]]
            topics = list(topic_ids)
            batch.append(
                (
                    record.message_id,
                    record.content_hash,
                    text,
                    sentiment,
                    msgspec.json.encode(topics).decode(),
                )
            )
            if total <= INLINE_ENRICHMENT_LIMIT:
                inline.append(
                    MessageEnrichment(
                        message_id=record.message_id,
                        chat_id=record.chat_id,
                        sentiment=sentiment,
                        topics=topics,
                    )
                )
            if len(batch) >= ENRICH_WRITE_ROWS:
                await write_enrichment_rows(ctx, batch)
                batch = []
                publish_to_dashboards(
                    ctx.channels,
                    account_id,
                    status_frame("PROCESSING_SNAPSHOT", "enriching messages", done / total),
                )
                publish_to_dashboards(
                    ctx.channels,
                    account_id,
                    EnrichmentResult(
                        payload=EnrichmentResultPayload(enriched=done, total=total, done=False)
                    ),
                )
            if time.perf_counter() - slice_start > SLICE_SECONDS:
                await asyncio.sleep(0)
                slice_start = time.perf_counter()
        await write_enrichment_rows(ctx, batch)
        # What earlier snapshots left unenriched (a crash, a failed job; a resend that
        # changed nothing comes here too): the queue of ``ingest.unenriched``. Its failure
        # leaves those rows to the sweepers, and this snapshot's refresh still runs.
        try:
            total += await enrich_unenriched(ctx)
        except Exception:
            log.exception("enriching the queued messages of %s failed", account_id)
        enriched_ms = (time.perf_counter() - began) * 1000
        publish_to_dashboards(
            ctx.channels,
            account_id,
            EnrichmentResult(
                payload=EnrichmentResultPayload(
                    messages=inline, enriched=total, total=total, done=True
                )
            ),
        )
        # Then the insight rows of the chats it marked due, in small batches: each is one
        # short transaction, so deltas and other accounts are not held up behind one huge one.
        for done_with in (changed, raw_texts, enriched_texts, speculative.distinct, inline, batch):
            await free(done_with)
        batches = 0

        def report_refresh(fraction: float) -> None:
            nonlocal batches
            batches += 1
            if fraction < 1.0 or batches > 1:  # more than one batch: show progress
                publish_to_dashboards(
                    ctx.channels,
                    account_id,
                    status_frame("PROCESSING_SNAPSHOT", "updating insights", fraction),
                )

        await ctx.insights.refresh_now(account_id, due, publish=False, progress=report_refresh)
        gc_pause.release()
        await ctx.insights.publish_analytics(account_id)
        publish_control(
            ctx.channels, ControlEvent(action="resync", account_id=account_id), extension=False
        )
        publish_to_dashboards(ctx.channels, account_id, status_frame("REALTIME"))
        log.info(
            "enriched %d messages of %s in %.0f ms, insights ready after %.0f ms",
            total,
            account_id,
            enriched_ms,
            (time.perf_counter() - began) * 1000,
        )
    except Exception as exc:
        log.exception("enrichment of %s failed", account_id)
        publish_to_dashboards(
            ctx.channels,
            account_id,
            status_frame(
                "ERROR",
                f"enrichment failed ({type(exc).__name__}); it resumes with the next snapshot",
            ),
        )
    finally:
        gc_pause.release()  # failed or cancelled before the end of enrichment
