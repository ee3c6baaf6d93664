"""The answered runs per chatter, in window order (docs/metrics.md "Chatters").

The leaderboard's exact reply median and p90 per chatter grouped every answered run of the
window by chatter in one statement: Postgres sorted them all before sorting each group
again (50-75 ms for the 173k runs of 90 days at 1M messages). With this index each
chatter's runs of a window are one range, read and sorted on their own (~7 ms each), and
the account's chatters are one index step each. On Postgres the index also carries what
the statistics and the chat and topic filters read, so they come from it alone.
"""

from __future__ import annotations

from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine


def index_sql(postgres: bool) -> str:
    carried = " INCLUDE (reply_seconds, chat_id, session_start_at)" if postgres else ""
    return (
        "CREATE INDEX IF NOT EXISTS ofca_reply_chatter ON ofca_reply "
        f"(account_id, chatter, first_inbound_at){carried} WHERE reply_seconds IS NOT NULL"
    )


async def forwards(engine: Engine[Any]) -> None:
    await engine.run_ddl(index_sql(isinstance(engine, PostgresEngine)))
