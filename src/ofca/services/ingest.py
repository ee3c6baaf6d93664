"""Ingestion of the extension's frames: decode, normalize, store atomically, enrich, publish.

``cache_update`` (snapshot): decoded in chunks (a 20 MB frame takes ~0.5 s to decode in
one go, far beyond the ~50 ms the event loop may be held), each message's raw JSON kept
exactly as received and hashed: same hash as stored = duplicate (nothing written), another
hash = edit (updated in place, ``version`` + 1, re-enriched), unknown id = new. Everything
of one frame is written in one transaction (``ofca.services.ingest_sql``). Enrichment of
the changed messages then runs in the background in small time slices, and dashboards are
told (``system_status`` progress, ``enrichment_result``, ``analytics_update``, a resync).

``new_raw_message`` (delta): ``ofca.services.deltas``, with the helpers shared here.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from ofca.domain.enrichment import DEFAULT_MATCHER, TopicMatcher
from ofca.domain.normalize import (
    NormalizedChat,
    normalize_chat,
    normalize_message,
)
from ofca.domain.onlyfans import Chat, Message
from ofca.domain.wss import (
    AnalyticsUpdate,
    EnrichmentResult,
    EnrichmentResultPayload,
    IngestAckPayload,
    MessageEnrichment,
    RejectedItem,
)
from ofca.services.ingest_enrich import SpeculativeEnrichment
from ofca.services.ingest_sql import (
    StorageUnavailable,
    known_chats,
    upsert_frame,
    widen_since,
    write_enrichment,
)
from ofca.services.live import ControlEvent, publish_control, publish_to_dashboards, status_frame
from ofca.settings import Settings

__all__ = [
    "FrameRejected",
    "IngestContext",
    "StorageUnavailable",
    "bare_chat_record",
    "decode_snapshot",
    "ingest_snapshot",
    "known_fan",
    "pending_enrichment",
    "remember_fan",
    "wait_enriched",
]

log = logging.getLogger(__name__)

DECODE_CHUNK = 1000
"""Messages decoded per slice (~4 ms each)."""
SCAN_CHUNK = 10_000
"""Messages looked at per slice by a simple scan (~3 ms)."""
SLICE_SECONDS = 0.005
"""CPU work done between two yields to the event loop. Short: a request or a live event
needs several turns of the loop (each await on Redis or the database is one), and every
turn waits for the slice running then; 20 ms slices made a 10-hop HTTP request take 200 ms."""
ENRICH_WRITE_ROWS = 5000
"""Enriched messages written (and reported) per batch."""
INLINE_ENRICHMENT_LIMIT = 1000
"""Snapshots changing at most this many messages report each enrichment individually."""
ANALYTICS_DEBOUNCE_SECONDS = 2.0
REFRESH_BATCH_CHATS = 25
"""Chats whose insight rows are recomputed per transaction after a snapshot."""
REFRESH_DEBOUNCE_SECONDS = 0.5
"""Deltas' chats are refreshed together, this long after the first of a burst."""
REFRESH_INTERVAL_SECONDS = 2.0
"""Under sustained deltas an account's refreshes start at least this far apart: each then
covers more chats at once, and fewer refreshes compete with the deltas for the loop."""

Progress = Callable[[float], Awaitable[None]]


class FrameRejected(Exception):
    """The frame is invalid; nothing of it was stored."""

    def __init__(self, code: str, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail


class IngestContext(msgspec.Struct, kw_only=True):
    account_id: str
    settings: Settings
    engine: Any
    channels: Any
    """The app's ``OfcaChannelsPlugin``."""
    state: Any = None


# --------------------------------------------------------------------------- decoding


class _RawSnapshotPayload(msgspec.Struct):
    chats: list[msgspec.Raw] = []
    messages: list[msgspec.Raw] = []


class _RawSnapshot(msgspec.Struct):
    payload: _RawSnapshotPayload


class _RawDeltaPayload(msgspec.Struct):
    message: msgspec.Raw


class _RawDelta(msgspec.Struct):
    payload: _RawDeltaPayload


_raw_snapshot_decoder = msgspec.json.Decoder(_RawSnapshot)
_raw_delta_decoder = msgspec.json.Decoder(_RawDelta)
_chats_decoder = msgspec.json.Decoder(list[Chat])
_messages_decoder = msgspec.json.Decoder(list[Message])
_PATH_INDEX = re.compile(r"`\$\[(\d+)\]")


async def _decode_items(
    raws: Sequence[msgspec.Raw], decoder: msgspec.json.Decoder[Any], field: str
) -> list[Any]:
    items: list[Any] = []
    for start in range(0, len(raws), DECODE_CHUNK):
        chunk = raws[start : start + DECODE_CHUNK]
        try:
            items.extend(decoder.decode(b"[" + b",".join(chunk) + b"]"))
        except msgspec.ValidationError as exc:
            # Name the field as the whole frame would: $.payload.<field>[<index>]...
            offset = start
            detail = _PATH_INDEX.sub(
                lambda m, offset=offset: f"`$.payload.{field}[{offset + int(m.group(1))}]",
                str(exc),
            )
            raise FrameRejected("validation_error", "Invalid cache_update", detail) from None
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise FrameRejected("json_parse_error", "Malformed JSON", str(exc)) from None
        await asyncio.sleep(0)
    return items


async def decode_snapshot(data: bytes) -> tuple[list[Chat], list[Message], list[msgspec.Raw]]:
    """Chats, messages and each message's raw JSON, validated as ``CacheUpdate`` would be."""
    try:
        raw = _raw_snapshot_decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise FrameRejected("validation_error", "Invalid cache_update", str(exc)) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise FrameRejected("json_parse_error", "Malformed JSON", str(exc)) from None
    await asyncio.sleep(0)
    chats = await _decode_items(raw.payload.chats, _chats_decoder, "chats")
    messages = await _decode_items(raw.payload.messages, _messages_decoder, "messages")
    return chats, messages, raw.payload.messages


def raw_delta_message(data: bytes | str) -> bytes:
    return bytes(_raw_delta_decoder.decode(data).payload.message)


# --------------------------------------------------------------------------- helpers


def content_hash(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def _chat_record(account_id: str, chat: NormalizedChat, raw: str | None, now: datetime) -> tuple:
    return (
        account_id,
        chat.chat_id,
        chat.fan_id,
        chat.fan_name,
        chat.fan_username,
        chat.fan_avatar,
        "onlyfans",
        raw,
        now,
        now,
    )


def bare_chat_record(account_id: str, chat_id: str, now: datetime) -> tuple:
    """A chat known only by its id (a delta of a chat no snapshot has brought yet)."""
    return (account_id, chat_id, None, None, None, None, "onlyfans", None, now, now)


_account_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


def account_lock(account_id: str) -> asyncio.Lock:
    """Serializes this process's writes of one account (across processes: the database
    advisory lock in ``ingest_sql``)."""
    lock = _account_locks.get(account_id)
    if lock is None:
        lock = asyncio.Lock()
        _account_locks[account_id] = lock
    return lock


_fan_ids: dict[tuple[str, str], str] = {}
_FAN_CACHE_MAX = 200_000


def known_fan(account_id: str, chat_id: str) -> str | None:
    """The chat's fan id if this process has seen it (a chat's fan never changes)."""
    return _fan_ids.get((account_id, chat_id))


def remember_fan(account_id: str, chat_id: str, fan_id: str | None) -> None:
    if fan_id is None:
        return
    if len(_fan_ids) > _FAN_CACHE_MAX:
        _fan_ids.clear()
    _fan_ids[(account_id, chat_id)] = fan_id


async def matcher_for(account_id: str) -> TopicMatcher:
    """The account's topic rules (built-in plus custom, from the insights service)."""
    try:
        from ofca.services.topics import matcher_for as topics_matcher
    except ImportError:
        return DEFAULT_MATCHER
    try:
        return await topics_matcher(account_id)
    except Exception:
        log.exception("topic matcher of %s unavailable; using the default topics", account_id)
        return DEFAULT_MATCHER


async def refresh_insights(
    ctx: IngestContext, chat_ids: Sequence[str], since: Mapping[str, datetime] | None = None
) -> None:
    """Recompute the insight rows of exactly these chats (sessions, replies), those in
    ``since`` from that instant on: in the insights worker process when there is one
    (``ofca.services.refresher``), else here."""
    if not chat_ids:
        return
    from ofca.services.refresher import WorkerUnavailable
    from ofca.services.sessions import refresh_chats

    since = {chat_id: since[chat_id] for chat_id in chat_ids if chat_id in since} if since else {}
    worker = ctx.state.get("insights_worker") if ctx.state is not None else None
    try:
        if worker is not None:
            try:
                await worker.refresh(ctx.account_id, chat_ids, since)
                return
            except WorkerUnavailable as exc:
                log.warning("insights worker unavailable (%s); refreshing in-process", exc)
        await refresh_chats(ctx.account_id, chat_ids, settings=ctx.settings, since=since)
    except Exception:
        log.exception("refreshing %d chats of %s failed", len(chat_ids), ctx.account_id)


_analytics_due: dict[str, asyncio.Task[None]] = {}


def schedule_analytics(ctx: IngestContext, delay: float = ANALYTICS_DEBOUNCE_SECONDS) -> None:
    """Publish ``analytics_update`` once for a burst of changes (not once per delta)."""
    if ctx.account_id in _analytics_due:
        return

    async def run() -> None:
        try:
            await asyncio.sleep(delay)
            await publish_analytics(ctx)
        finally:
            _analytics_due.pop(ctx.account_id, None)

    _analytics_due[ctx.account_id] = asyncio.create_task(run())


_refresh_due: dict[str, dict[str, datetime | None]] = {}
"""Per account, the chats waiting for a refresh: each from the instant its changes start
at (``sessions.refresh_chats(since=...)``), or None for the whole chat."""
_refresh_tasks: dict[str, asyncio.Task[None]] = {}
_refresh_started: dict[str, float] = {}


async def refresh_due_chats(ctx: IngestContext, due: Mapping[str, datetime | None]) -> None:
    """Refresh these chats (each from its instant on, or whole for None) in batches of
    :data:`REFRESH_BATCH_CHATS`."""
    ordered = sorted(due)
    since = {chat_id: at for chat_id, at in due.items() if at is not None}
    for start in range(0, len(ordered), REFRESH_BATCH_CHATS):
        await refresh_insights(ctx, ordered[start : start + REFRESH_BATCH_CHATS], since)


def schedule_refresh(
    ctx: IngestContext, chat_ids: Sequence[str], since: Mapping[str, datetime | None] | None = None
) -> None:
    """Refresh the insight rows of these chats shortly, together with every other chat the
    account's next deltas touch, then publish ``analytics_update``. ``since[chat]``: every
    change of that chat lies at or after this instant (new messages), so only its rows from
    there on are re-derived; a chat without it (or None) is re-derived whole.

    Recomputing a chat's sessions reads its messages; doing that once per delta would
    cap an account at a few dozen deltas per second, and the dashboards already got each
    message (``append_message``) the moment it was stored. A quiet account's first delta is
    refreshed after :data:`REFRESH_DEBOUNCE_SECONDS`; a busy account's at most every
    :data:`REFRESH_INTERVAL_SECONDS`.
    """
    due = _refresh_due.setdefault(ctx.account_id, {})
    for chat_id in chat_ids:
        widen_since(due, chat_id, since.get(chat_id) if since else None)
    if ctx.account_id in _refresh_tasks:
        return

    async def run() -> None:
        try:
            previous = _refresh_started.get(ctx.account_id, -REFRESH_INTERVAL_SECONDS)
            next_start = previous + REFRESH_INTERVAL_SECONDS - time.monotonic()
            await asyncio.sleep(max(REFRESH_DEBOUNCE_SECONDS, next_start))
            _refresh_started[ctx.account_id] = time.monotonic()
            while _refresh_due.get(ctx.account_id):
                await refresh_due_chats(ctx, _refresh_due.pop(ctx.account_id))
            await publish_analytics(ctx)
        finally:
            _refresh_tasks.pop(ctx.account_id, None)

    _refresh_tasks[ctx.account_id] = asyncio.create_task(run())


async def publish_analytics(ctx: IngestContext) -> None:
    try:
        from ofca.services.insights import analytics_snapshot
    except ImportError:
        return
    try:
        snapshot = await analytics_snapshot(ctx.account_id, ctx.settings)
    except Exception:
        log.exception("analytics of %s unavailable", ctx.account_id)
        return
    publish_to_dashboards(ctx.channels, ctx.account_id, AnalyticsUpdate(payload=snapshot))


async def _log_frame(ctx: IngestContext, kind: str, ack: IngestAckPayload, size: int) -> None:
    from ofca.persistence.tables import IngestLog

    try:
        await IngestLog(
            account_id=ctx.account_id,
            source="extension",
            kind=kind,
            received_at=datetime.now(UTC),
            accepted=ack.accepted,
            duplicates=ack.duplicates,
            updated=ack.updated,
            rejected=ack.rejected,
            frame_bytes=size,
            duration_ms=ack.duration_ms,
        ).save()
    except Exception as exc:  # the frame is stored; its log line is not worth failing it
        log.warning("ingest log of %s not written: %s", ctx.account_id, type(exc).__name__)


# --------------------------------------------------------------------------- snapshot


class _Pending(msgspec.Struct, array_like=True):
    message_id: str
    content_hash: str
    chat_id: str
    raw_text: str | None


_pending_jobs: set[asyncio.Task[None]] = set()


def pending_enrichment() -> int:
    """Background enrichment jobs running in this process (tests and benches wait on it)."""
    return len(_pending_jobs)


async def wait_enriched() -> None:
    """Wait until this process's background enrichment jobs are done (demo, benches)."""
    while _pending_jobs:
        await asyncio.gather(*list(_pending_jobs), return_exceptions=True)


_gc_pauses = 0


class GcPause:
    """One hold on the pause of cyclic garbage collection (GC runs again once every hold is
    released). Releasing twice is harmless, so a hold can be released both where the work
    ends and, as a backstop, when its task finishes however it finishes.

    Decoding a snapshot creates millions of objects; each full collection triggered by that
    walks them all and held the event loop for 0.3-1 s. They are freed by reference counting
    anyway (no cycles), so collection just waits until the snapshot is through.
    """

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = False

    def hold(self) -> GcPause:
        global _gc_pauses
        if not self._held:
            self._held = True
            if _gc_pauses == 0:
                gc.disable()
            _gc_pauses += 1
        return self

    def release(self) -> None:
        global _gc_pauses
        if self._held:
            self._held = False
            _gc_pauses -= 1
            if _gc_pauses == 0:
                _promote_young()
                gc.enable()


def _promote_young() -> None:
    """Move every object the pause kept in the young generations straight to the oldest.

    Left young, they are all walked by the first collection after the pause (everything a
    snapshot left alive, such as the enrichment caches: 60-200 ms holding the loop). The old
    generation is walked only by full collections, which Python runs when enough objects
    have been promoted by collections; these are not counted, so it does not come sooner.
    ``freeze`` then ``unfreeze`` moves them without a walk. Skipped when something else
    keeps objects frozen (unfreezing would undo that).
    """
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a snapshot's objects are made and dropped."""
    pause = GcPause().hold()
    try:
        yield
    finally:
        pause.release()


FREE_CHUNK = 5_000
"""Items of a big container freed per slice (~3 ms)."""


async def _free(items: list[Any] | dict[Any, Any]) -> None:
    """Empty ``items`` a slice at a time, yielding between slices: what it alone holds is
    freed as it goes (freeing a snapshot's objects in one go held the loop for ~40 ms)."""
    while items:
        if isinstance(items, dict):
            for _ in range(min(FREE_CHUNK, len(items))):
                items.popitem()
        else:
            del items[-FREE_CHUNK:]
        await asyncio.sleep(0)


async def ingest_snapshot(
    ctx: IngestContext, data: bytes, progress: Progress | None = None
) -> IngestAckPayload:
    """Store a ``cache_update`` atomically; returns the ack (enrichment continues after)."""
    # A turn of the loop first: the frame's arrival already cost this turn tens of ms (the
    # socket layer's UTF-8 round trip of the whole frame, the envelope's scan of it).
    await asyncio.sleep(0)
    with _gc_paused():
        return await _ingest_snapshot(ctx, data, progress)


async def _ingest_snapshot(
    ctx: IngestContext, data: bytes, progress: Progress | None
) -> IngestAckPayload:
    began = time.perf_counter()
    account_id = ctx.account_id

    async def report(fraction: float) -> None:
        if progress is not None:
            await progress(fraction)

    chats, messages, raws = await decode_snapshot(data)
    await report(0.2)
    now = datetime.now(UTC)

    chat_records: dict[str, tuple] = {}
    fans: dict[str, str | None] = {}
    for chat in chats:
        normalized = normalize_chat(chat)
        chat_records[normalized.chat_id] = _chat_record(account_id, normalized, None, now)
        fans[normalized.chat_id] = normalized.fan_id
    referenced: set[str] = set()
    for start in range(0, len(messages), SCAN_CHUNK):
        for message in messages[start : start + SCAN_CHUNK]:
            if message.chat_id is not None and (chat_id := str(message.chat_id)) not in fans:
                referenced.add(chat_id)
        await asyncio.sleep(0)
    if referenced:
        fans.update(await known_chats(ctx.engine, account_id, sorted(referenced)))

    rows: dict[str, tuple] = {}
    pending: dict[str, _Pending] = {}
    texts: dict[str | None, None] = {}
    rejected: list[RejectedItem] = []
    duplicates_in_frame = 0
    slice_start = time.perf_counter()
    for index, message in enumerate(messages):
        message_id = str(message.id)
        if message.chat_id is None:
            rejected.append(RejectedItem(message_id=message_id, reason="missing chat_id"))
            continue
        chat_id = str(message.chat_id)
        if chat_id not in fans:
            rejected.append(RejectedItem(message_id=message_id, reason=f"unknown chat {chat_id}"))
            continue
        normalized = normalize_message(message, chat_id, fans[chat_id])
        raw = bytes(raws[index])
        digest = content_hash(raw)
        if message_id in rows:
            duplicates_in_frame += 1  # the later copy in the frame wins
        rows[message_id] = (
            account_id,
            message_id,
            chat_id,
            normalized.direction,
            normalized.created_at,
            normalized.changed_at,
            None,  # the cleaned text is written with the enrichment, off the ack path
            raw.decode("utf-8"),
            digest,
            normalized.from_user_id,
            normalized.is_tip,
            normalized.price,
            normalized.media_count,
            "onlyfans",
            None,
            "[]",
            False,
            now,
            1,
        )
        pending[message_id] = _Pending(message_id, digest, chat_id, normalized.raw_text)
        texts[normalized.raw_text] = None
        if index % 256 == 0 and time.perf_counter() - slice_start > SLICE_SECONDS:
            await report(0.2 + 0.4 * index / max(len(messages), 1))
            await asyncio.sleep(0)
            slice_start = time.perf_counter()
    # The decoded frame is freed a slice at a time: freeing its million objects at once
    # (when this function returned) held the loop for ~40 ms.
    await _free(messages)
    await _free(raws)
    await report(0.6)
    # The worker process enriches while this one waits on the database.
    speculative = SpeculativeEnrichment(list(texts), await matcher_for(account_id))
    del texts

    async with account_lock(account_id):
        outcome = await upsert_frame(
            ctx.engine, account_id, chats=list(chat_records.values()), messages=list(rows.values())
        )
    for chat_id, fan_id in fans.items():
        remember_fan(account_id, chat_id, fan_id)
    await report(1.0)

    changed = [pending[mid] for mid in (*outcome.inserted, *outcome.updated)]
    stored_rows = len(rows)
    await _free(rows)
    await _free(pending)
    ack = IngestAckPayload(
        frame="cache_update",
        accepted=len(outcome.inserted),
        duplicates=stored_rows - len(changed) + duplicates_in_frame,
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
    await _log_frame(ctx, "cache_update", ack, len(data))
    if changed or chat_records:
        # Dashboards see the stored (not yet enriched) data at once; enrichment follows.
        publish_control(
            ctx.channels, ControlEvent(action="resync", account_id=account_id), extension=False
        )
        # The job's pause of garbage collection starts now, before this one ends: else the
        # collection that re-enabling triggers walks every object of the snapshot still
        # held for enrichment (100+ ms holding the loop) just before the job pauses it.
        gc_pause = GcPause().hold()
        try:
            job = asyncio.create_task(
                _enrich_snapshot(ctx, changed, set(chat_records), speculative, gc_pause)
            )
        except BaseException:
            gc_pause.release()
            raise
        _pending_jobs.add(job)
        job.add_done_callback(_pending_jobs.discard)
        job.add_done_callback(lambda _: gc_pause.release())  # also if cancelled unstarted
    return ack


async def _enrich_snapshot(
    ctx: IngestContext,
    changed: list[_Pending],
    chats: set[str],
    speculative: SpeculativeEnrichment,
    gc_pause: GcPause,
) -> None:
    """Enrich, store and report the changed messages, then refresh the touched chats'
    insight rows. ``gc_pause`` is held for this job, which releases it."""
    account_id = ctx.account_id
    total = len(changed)
    began = time.perf_counter()
    try:
        enriched_texts = await speculative.results()
        batch: list[tuple[str, str, str | None, float | None, str]] = []
        inline: list[MessageEnrichment] = []
        slice_start = time.perf_counter()
        for done, item in enumerate(changed, start=1):
            text, sentiment, topic_ids = enriched_texts[item.raw_text]
            topics = list(topic_ids)
            batch.append(
                (
                    item.message_id,
                    item.content_hash,
                    text,
                    sentiment,
                    msgspec.json.encode(topics).decode(),
                )
            )
            if total <= INLINE_ENRICHMENT_LIMIT:
                inline.append(
                    MessageEnrichment(
                        message_id=item.message_id,
                        chat_id=item.chat_id,
                        sentiment=sentiment,
                        topics=topics,
                    )
                )
            if len(batch) >= ENRICH_WRITE_ROWS:
                await write_enrichment(ctx.engine, account_id, batch)
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
        await write_enrichment(ctx.engine, account_id, batch)
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
        # Then the insight rows of the touched chats, in small batches: each is one short
        # transaction, so deltas and other accounts are not held up behind one huge one.
        touched = sorted(chats | {item.chat_id for item in changed})
        for done_with in (changed, enriched_texts, speculative.distinct, inline, batch):
            await _free(done_with)
        for start in range(0, len(touched), REFRESH_BATCH_CHATS):
            await refresh_insights(ctx, touched[start : start + REFRESH_BATCH_CHATS])
            if len(touched) > REFRESH_BATCH_CHATS:
                publish_to_dashboards(
                    ctx.channels,
                    account_id,
                    status_frame(
                        "PROCESSING_SNAPSHOT",
                        "updating insights",
                        min(1.0, (start + REFRESH_BATCH_CHATS) / len(touched)),
                    ),
                )
        gc_pause.release()
        await publish_analytics(ctx)
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


def context_for(state: Any, account_id: str) -> IngestContext:
    return IngestContext(
        account_id=account_id,
        settings=state.settings,
        engine=state.engine,
        channels=state.channels,
        state=state,
    )
