"""An extension socket's stream, as its session sees it (docs/protocol.md, "Streams and
sequence numbers").

A socket that names a stream (``?stream=``), or sends its first sequenced frame, claims
it (:func:`claim`): it becomes the stream's one writer in the database
(``persistence.streams``), and the previous writer's socket, on whichever process, is
told to close with 4409 (a ``superseded`` control event on the account's extension
channel). From then on, every write that moves the stream (``committed_seq``, staged
chunks) runs in the transaction of the data it covers (:meth:`Stream.advancing`, passed
to the write path as its ``in_transaction``) and is fenced: a superseded writer's
transaction raises ``StreamFenced`` and rolls back.

Abandoned chunked snapshots are dropped by :func:`run_snapshot_sweeper` (every served
process) after ``OFCA_SNAPSHOT_TTL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ofca.channels.plugin import OfcaChannelsPlugin
from ofca.channels.publish import publish_superseded
from ofca.domain.wss import PendingSnapshot
from ofca.ingest.store import InTransaction
from ofca.persistence import streams
from ofca.persistence.faults import is_database_unavailable
from ofca.persistence.sql import database, own_connection, write_transaction

__all__ = [
    "DEFAULT_STREAM",
    "Stream",
    "claim",
    "peek",
    "run_snapshot_sweeper",
    "sweep_snapshots",
]

log = logging.getLogger(__name__)

DEFAULT_STREAM = "default"


class Stream:
    """A claimed stream: who writes it (this connection) and how far it is committed.

    :attr:`committed_seq` and :attr:`pending` are the database's values as of the last
    commit this writer made (nobody else may move them while it is the writer)."""

    def __init__(self, account_id: str, name: str, writer: str, state: streams.StreamState):
        self.account_id = account_id
        self.name = name
        self.writer = writer
        self.committed_seq = state.committed_seq
        self.pending: streams.PendingChunks | None = state.pending

    @property
    def pending_snapshot(self) -> PendingSnapshot | None:
        pending = self.pending
        if pending is None:
            return None
        return PendingSnapshot(id=pending.id, next_chunk=pending.next_chunk, chunks=pending.chunks)

    def advancing(self, first_seq: int, last_seq: int) -> tuple[InTransaction, list[bool]]:
        """What moves ``committed_seq`` from ``first_seq - 1`` to ``last_seq`` in the
        transaction it is run in, and a flag set once it ran (a write with nothing to
        store opens no transaction: the caller then calls :meth:`advance`)."""
        ran = [False]

        async def hook(connection: Any) -> None:
            await streams.advance(
                connection,
                self.account_id,
                self.name,
                self.writer,
                first_seq=first_seq,
                last_seq=last_seq,
            )
            ran[0] = True

        return hook, ran

    async def advance(self, first_seq: int, last_seq: int) -> None:
        """``committed_seq`` to ``last_seq`` in a transaction of its own (frames that store
        nothing: refused items, frames answered with an error that consumes them)."""
        engine = database()
        async with write_transaction(engine):
            await streams.advance(
                own_connection(engine),
                self.account_id,
                self.name,
                self.writer,
                first_seq=first_seq,
                last_seq=last_seq,
            )
        self.committed_seq = last_seq

    async def release(self) -> None:
        """The socket closed: the stream has no writer until the next claim."""
        try:
            await streams.release_stream(self.account_id, self.name, self.writer)
        except Exception as exc:  # the next claim takes it over all the same
            log.warning("stream %s not released: %s", self.name, type(exc).__name__)


async def claim(channels: OfcaChannelsPlugin, account_id: str, name: str, writer: str) -> Stream:
    """Make ``writer`` the stream's writer; the previous one is closed with 4409."""
    state = await streams.claim_stream(account_id, name, writer)
    publish_superseded(channels, account_id, name, writer)
    return Stream(account_id, name, writer, state)


async def peek(account_id: str, name: str) -> streams.StreamState | None:
    """The stream as it is, without claiming it (``None``: not created yet)."""
    return await streams.read_stream(account_id, name)


async def sweep_snapshots() -> int:
    """Drop the pending snapshots whose time is up; how many were."""
    dropped = await streams.expire_snapshots()
    for account_id, name, snapshot_id in dropped:
        log.info(
            "dropped the expired snapshot %s of stream %s of %s", snapshot_id, name, account_id
        )
    return len(dropped)


async def run_snapshot_sweeper(interval: float) -> None:
    """:func:`sweep_snapshots` every ``interval`` seconds until cancelled."""
    while True:
        await asyncio.sleep(interval)
        try:
            await sweep_snapshots()
        except Exception as exc:
            log.warning(
                "sweeping expired snapshots failed (%s)",
                type(exc).__name__,
                exc_info=not is_database_unavailable(exc),
            )
