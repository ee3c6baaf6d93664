"""Each topic's sessions by their end (docs/metrics.md, the ``topic`` filter of Revenue and
Chatters).

A message is in a topic when the session it lies in has the topic. Postgres answers that
for a window's messages with one hash of the topic's sessions on the chat; without this
index it read every session topic of the account to build it (54 of a topic-filtered
revenue's 87 ms at 1M messages). The sessions that can hold a message of the window are
those ending at the window's start or later: one range here, read from the index alone on
Postgres (it carries the chat and the start).
"""

from __future__ import annotations

from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine


def index_sql(postgres: bool) -> str:
    carried = " INCLUDE (chat_id, start_at)" if postgres else ""
    return (
        "CREATE INDEX IF NOT EXISTS ofca_session_topic_end ON ofca_session_topic "
        f"(account_id, topic, end_at){carried}"
    )


async def forwards(engine: Engine[Any]) -> None:
    await engine.run_ddl(index_sql(isinstance(engine, PostgresEngine)))
