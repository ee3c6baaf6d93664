"""Extension streams (docs/protocol.md): each stream's committed sequence number, its
current writer and its partly received chunked snapshot, and the staged chunks of that
snapshot. Both are written in the transaction that stores (or stages) the data a frame
carries, so the committed seq never runs ahead of, nor behind, what is stored."""

from __future__ import annotations

from typing import Any

from piccolo.columns import BigInt, Integer, Text, Timestamptz, Varchar
from piccolo.engine.base import Engine
from piccolo.table import Table


class IngestStreamRow(Table, tablename="ofca_ingest_stream"):
    account_id = Varchar(length=200)
    stream = Varchar(length=64)
    committed_seq = BigInt(default=0)
    writer = Varchar(length=64, null=True, default=None)
    writer_since = Timestamptz(null=True, default=None)
    snapshot_id = Varchar(length=64, null=True, default=None)
    snapshot_chunks = Integer(null=True, default=None)
    snapshot_next_chunk = Integer(null=True, default=None)
    snapshot_expires_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()


class SnapshotChunkRow(Table, tablename="ofca_snapshot_chunk"):
    account_id = Varchar(length=200)
    stream = Varchar(length=64)
    snapshot_id = Varchar(length=64)
    chunk = Integer()
    seq = BigInt()
    data = Text()
    received_at = Timestamptz()


INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS ofca_ingest_stream_key "
    "ON ofca_ingest_stream (account_id, stream)",
    "CREATE INDEX IF NOT EXISTS ofca_ingest_stream_expiry "
    "ON ofca_ingest_stream (snapshot_expires_at)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ofca_snapshot_chunk_key "
    "ON ofca_snapshot_chunk (account_id, stream, snapshot_id, chunk)",
)


async def forwards(engine: Engine[Any]) -> None:
    for table in (IngestStreamRow, SnapshotChunkRow):
        table._meta.db = engine
        await table.create_table(if_not_exists=True).run()
    for statement in INDEXES:
        await engine.run_ddl(statement)
