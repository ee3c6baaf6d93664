"""The durable enrichment queue: stored messages whose enrichment is not written yet.

A snapshot's messages are stored unenriched (``enriched`` false) and enriched after its
ack, in the background (``ingest.snapshot``). What that leaves undone (the process died
after the commit, the job failed) is not lost: the rows themselves are the queue, found
through a partial index (migration ``m0011_unenriched``):

- every served process sweeps it (:func:`run_sweeper`, every ``OFCA_REFRESH_SWEEP_SECONDS``)
  for rows ingested more than twice that long ago (younger ones are most likely being
  enriched by the process that stored them);
- a snapshot's own job, and a resent snapshot that changed nothing, finish with the
  account's rows still unenriched (:func:`enrich_unenriched`), whatever their age.

Each row is enriched from its stored raw JSON. Writing is per batch, with a per-row
fallback (:func:`write_enrichment_rows`): a value the database refuses costs only its own
row, which is then written without text, sentiment or topics (so it leaves the queue
instead of failing every sweep). Two processes enriching one row write the same values
(the write is conditioned on the row's content hash), so no claim is needed. The chats
enriched here are marked due for an insight refresh (``ofca_refresh_due``) and their
refresh scheduled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec

from ofca.domain.enrichment import TopicMatcher, enrich
from ofca.domain.onlyfans import Message
from ofca.ingest.context import Ingest, IngestContext, matcher_for
from ofca.ingest.store import EnrichmentRow, write_enrichment
from ofca.loop import SLICE_SECONDS
from ofca.persistence.faults import is_database_unavailable, is_value_refused
from ofca.persistence.refresh_marks import mark_chats
from ofca.persistence.sql import Row, fetch_rows

__all__ = [
    "PICK_ROWS",
    "accounts_with_unenriched",
    "enrich_unenriched",
    "enriched_row",
    "run_sweeper",
    "write_enrichment_rows",
]

log = logging.getLogger(__name__)

PICK_ROWS = 2000
"""Unenriched rows read, enriched and written per batch."""

_PICK = (
    "SELECT message_id, chat_id, content_hash, raw FROM ofca_message "
    "WHERE account_id = {} AND NOT enriched AND message_id > {} AND ingested_at < {} "
    "ORDER BY message_id LIMIT {}"
)
_ACCOUNTS = "SELECT DISTINCT account_id FROM ofca_message WHERE NOT enriched AND ingested_at < {}"

_message_decoder = msgspec.json.Decoder(Message)
_encode = msgspec.json.encode


def enriched_row(
    message_id: str, content_hash: str, raw_text: str | None, matcher: TopicMatcher
) -> EnrichmentRow:
    """The enrichment of one message; without text, sentiment and topics when enriching it
    fails (logged): one bad text never holds up the others."""
    try:
        enrichment = enrich(raw_text, matcher)
    except Exception:
        log.exception("enriching message %s failed; it is stored without enrichment", message_id)
        return (message_id, content_hash, None, None, "[]")
    topics = _encode(list(enrichment.topics)).decode()
    return (message_id, content_hash, enrichment.text, enrichment.sentiment, topics)


async def write_enrichment_rows(ctx: IngestContext, rows: Sequence[EnrichmentRow]) -> int:
    """Write ``rows`` in one transaction; when the database refuses a value of them, row by
    row, each refused row written without enrichment instead. Returns the rows written
    without enrichment that way. An outage raises (the rows stay in the queue)."""
    try:
        await write_enrichment(ctx.engine, ctx.account_id, rows)
        return 0
    except Exception as exc:
        if not is_value_refused(exc) or len(rows) == 0:
            raise
    refused = 0
    for row in rows:
        try:
            await write_enrichment(ctx.engine, ctx.account_id, [row])
        except Exception as exc:
            if not is_value_refused(exc):
                raise
            refused += 1
            await write_enrichment(ctx.engine, ctx.account_id, [(*row[:2], None, None, "[]")])
    log.warning(
        "%d of %d enrichments of %s refused by the database; stored without enrichment",
        refused,
        len(rows),
        ctx.account_id,
    )
    return refused


def _raw_text(raw: str) -> str | None:
    try:
        return _message_decoder.decode(raw).text
    except (msgspec.DecodeError, RecursionError):
        return None


async def _enrich_batch(ctx: IngestContext, rows: Sequence[Row], matcher: TopicMatcher) -> None:
    batch: list[EnrichmentRow] = []
    slice_start = time.perf_counter()
    for row in rows:
        message_id, content_hash = str(row["message_id"]), str(row["content_hash"])
        batch.append(enriched_row(message_id, content_hash, _raw_text(str(row["raw"])), matcher))
        if time.perf_counter() - slice_start > SLICE_SECONDS:
            await asyncio.sleep(0)
            slice_start = time.perf_counter()
    await write_enrichment_rows(ctx, batch)


async def enrich_unenriched(ctx: IngestContext, older_than: timedelta | None = None) -> int:
    """Enrich the account's stored messages still unenriched (ingested before
    ``older_than`` ago, when given), :data:`PICK_ROWS` at a time; marks their chats due and
    schedules their insight refresh. Returns how many were enriched."""
    cutoff = datetime.now(UTC) - (older_than or timedelta(0))
    matcher = await matcher_for(ctx.account_id)
    after = ""
    done = 0
    chats: set[str] = set()
    while True:
        rows = await fetch_rows(_PICK, ctx.account_id, after, cutoff, PICK_ROWS)
        if not rows:
            break
        await _enrich_batch(ctx, rows, matcher)
        done += len(rows)
        chats.update(str(row["chat_id"]) for row in rows)
        after = str(rows[-1]["message_id"])
        if len(rows) < PICK_ROWS:
            break
    if chats:
        await mark_chats(ctx.account_id, [(chat_id, None, True) for chat_id in sorted(chats)])
        ctx.insights.schedule_refresh(ctx.account_id, dict.fromkeys(chats))
        log.info("enriched %d queued messages of %s", done, ctx.account_id)
    return done


async def accounts_with_unenriched(older_than: timedelta) -> list[str]:
    """Accounts with messages left unenriched for longer than ``older_than``."""
    rows = await fetch_rows(_ACCOUNTS, datetime.now(UTC) - older_than)
    return sorted(str(row["account_id"]) for row in rows)


async def sweep(ingest: Ingest, older_than: timedelta) -> int:
    """Enrich every account's messages left unenriched for longer than ``older_than``."""
    done = 0
    for account_id in await accounts_with_unenriched(older_than):
        done += await enrich_unenriched(ingest.context(account_id), older_than)
    return done


async def run_sweeper(ingest: Ingest, interval: float) -> None:
    """Sweep the queue every ``interval`` seconds (the first time at once) until cancelled;
    rows younger than twice ``interval`` are left to the process that stored them."""
    while True:
        try:
            done = await sweep(ingest, timedelta(seconds=2 * interval))
            if done:
                log.warning("enriched %d messages whose enrichment had not been written", done)
        except Exception as exc:
            log.warning(
                "sweeping unenriched messages failed (%s)",
                type(exc).__name__,
                exc_info=not is_database_unavailable(exc),
            )
        await asyncio.sleep(interval)
