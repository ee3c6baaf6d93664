"""The write path every source takes: records -> store -> link commands -> publish.

Snapshots, deltas, the transcript webhook and Chatwoot all turn what they received into
``ofca.domain.records`` records and write them here:

1. :func:`store` writes records under the account's lock in one transaction, which also
   marks the changed chats due for an insight refresh (``UpsertOutcome.due``).
   :func:`store_enriched` first enriches them (what is published at once must not wait
   for background enrichment), tagged with the account's topic rules as of the write.
2. :func:`link_commands` links new outbound messages to the dashboard commands that
   produced them.
3. :func:`publish_changes` sends dashboards an ``append_message`` per new or edited
   message (a snapshot instead tells them to resync).
4. The writer hands ``outcome.due`` to the ``RefreshScheduler``: deltas soon (debounced),
   a webhook or Chatwoot request now (its answer means the insights are current), a
   snapshot after its enrichment (sentiment and topics feed the insights).
5. It writes its ``ofca_ingest_log`` line (``ingest.context.log_frame``).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime

import msgspec

from ofca.channels.publish import publish_events
from ofca.domain.enrichment import enrich
from ofca.domain.normalize import NormalizedMessage
from ofca.domain.records import StoredChat, StoredMessage, message_record
from ofca.domain.views import message_view
from ofca.ingest import commands
from ofca.ingest.context import IngestContext, account_writer
from ofca.ingest.store import InTransaction, TopicsChanged, UpsertOutcome, upsert_frame
from ofca.persistence import topic_rules

__all__ = [
    "TOPIC_RETRIES",
    "Change",
    "Received",
    "link_commands",
    "publish_changes",
    "store",
    "store_enriched",
]

log = logging.getLogger(__name__)

TOPIC_RETRIES = 3
"""Topic-set changes tolerated while one batch is written (each one re-tags the batch)."""

Received = tuple[NormalizedMessage, bytes]
"""A message to store and the JSON it came as (stored as ``raw``, and hashed)."""

Change = tuple[int, StoredMessage, str | None]
"""A new or edited message: (its position in what was received, the record written, the
command it is linked to)."""

_asdict = msgspec.structs.asdict


async def store(
    ctx: IngestContext,
    messages: Sequence[StoredMessage],
    *,
    chats: Sequence[StoredChat] = (),
    new_chats: Sequence[StoredChat] = (),
    topic_version: int | None = None,
    in_transaction: InTransaction | None = None,
) -> UpsertOutcome:
    """Write one batch atomically (see ``ingest.store.upsert_frame``), after this
    process's earlier writes of the account."""
    async with account_writer(ctx.account_id):
        return await upsert_frame(
            ctx.engine,
            ctx.account_id,
            chats=chats,
            new_chats=new_chats,
            messages=messages,
            topic_version=topic_version,
            in_transaction=in_transaction,
        )


async def store_enriched(
    ctx: IngestContext,
    received: Sequence[Received],
    *,
    source: str,
    now: datetime,
    chats: Sequence[StoredChat] = (),
    new_chats: Sequence[StoredChat] = (),
    in_transaction: InTransaction | None = None,
) -> tuple[UpsertOutcome, list[StoredMessage]]:
    """Enrich and write messages with distinct ids in one transaction; returns the outcome
    and the records written.

    They are tagged with the topic rules this process last used for the account; the
    write checks that version under the account's lock and, when the topic set changed
    meanwhile, they are tagged again with the new rules and written then."""
    account_id = ctx.account_id
    version, matcher = await topic_rules.last_known_matcher(account_id)
    for attempt in range(TOPIC_RETRIES + 1):
        records = [
            message_record(account_id, message, raw, source, now, enrich(message.raw_text, matcher))
            for message, raw in received
        ]
        # The topics keep changing: the last attempt tags them as of now, unchecked.
        checked = version if attempt < TOPIC_RETRIES else None
        try:
            outcome = await store(
                ctx,
                records,
                chats=chats,
                new_chats=new_chats,
                topic_version=checked,
                in_transaction=in_transaction,
            )
        except TopicsChanged as changed:
            version = changed.version
            matcher = await topic_rules.matcher_at(account_id, version)
            continue
        return outcome, records
    raise AssertionError("unreachable: the last attempt does not check the version")


async def link_commands(ctx: IngestContext, changes: list[Change]) -> list[Change]:
    """Link the new outbound messages among ``changes`` (committed) to the dashboard
    commands that produced them; before the acks, so a client that reads the message
    after its ack sees the link. A failure leaves them unlinked (logged): they are
    stored all the same."""
    candidates = [
        commands.LinkCandidate(
            record.message_id, record.chat_id, record.text, record.created_at, record.ingested_at
        )
        for _, record, command_id in changes
        if record.direction == "outbound" and command_id is None
    ]
    if not candidates:
        return changes
    try:
        links = await commands.link_outbound(ctx.account_id, candidates)
    except Exception:
        log.exception("linking commands of %s failed", ctx.account_id)
        return changes
    return [
        (index, record, command_id or links.get(record.message_id))
        for index, record, command_id in changes
    ]


async def publish_changes(
    ctx: IngestContext, changes: Sequence[Change], edited: Collection[int]
) -> None:
    """One ``append_message`` per change, in order, each with its chat's node as it now is,
    all in one channel message. ``edited``: the positions of the edits among them."""
    views = [
        (message_view({**_asdict(record), "command_id": command_id}), index in edited)
        for index, record, command_id in changes
    ]
    frames = await ctx.feed.append_frames(ctx.account_id, views)
    publish_events(ctx.channels, ctx.account_id, frames)
