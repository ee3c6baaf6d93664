"""The enrichment queue: messages stored but not yet enriched (``enriched`` false: a
snapshot's rows until its background enrichment writes them) are found through a partial
index, so every served process can cheaply look for what a crash or a failure left
behind (``ofca.ingest.unenriched``)."""

from __future__ import annotations

from typing import Any

from piccolo.engine.base import Engine

INDEXES = (
    "CREATE INDEX IF NOT EXISTS ofca_message_unenriched "
    "ON ofca_message (account_id, message_id) WHERE NOT enriched",
)


async def forwards(engine: Engine[Any]) -> None:
    for statement in INDEXES:
        await engine.run_ddl(statement)
