"""Message sentiment and price as 8-byte floats on Postgres.

m0001 declared them ``Real``: 4 bytes on Postgres (about 3e-8 relative error) but 8 bytes
on SQLite, so the same data could give JSON differing in the last digits between the two
engines. SQLite's REAL is already double precision: nothing to do there.
"""

from __future__ import annotations

from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine


async def forwards(engine: Engine[Any]) -> None:
    if not isinstance(engine, PostgresEngine):
        return
    await engine.run_ddl(
        "ALTER TABLE ofca_message "
        "ALTER COLUMN sentiment TYPE DOUBLE PRECISION, "
        "ALTER COLUMN price TYPE DOUBLE PRECISION"
    )
