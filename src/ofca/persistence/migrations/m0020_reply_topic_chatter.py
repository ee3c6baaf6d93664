"""The chatter of each reply run filed under a topic (docs/metrics.md "Chatters", with the
``topic`` filter).

The leaderboard's reply statistics for a topic tested every answered run of the window
against the session topics (a hash of the topic's sessions, and on Postgres a scan of
every run of the window: 70-107 ms at 90 days of 1M messages). The topic's runs are
already in ``ofca_reply_topic``; carrying the reply's chatter there (kept with the reply
rows by the refresh) makes each chatter's runs under a topic one range of an index.
"""

from __future__ import annotations

from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

COLUMN = "ALTER TABLE ofca_reply_topic ADD COLUMN chatter VARCHAR(250)"

BACKFILL = (
    # max(): two runs of one chat starting at the same instant (ties in chat order) would
    # otherwise stop the migration; the next refresh of such a chat rewrites its rows.
    "UPDATE ofca_reply_topic SET chatter = (SELECT max(r.chatter) FROM ofca_reply r "
    "WHERE r.account_id = ofca_reply_topic.account_id AND r.chat_id = ofca_reply_topic.chat_id "
    "AND r.first_inbound_at = ofca_reply_topic.first_inbound_at) "
    "WHERE reply_seconds IS NOT NULL"
)


def index_sql(postgres: bool) -> str:
    """Each chatter's runs under a topic, in window order: one range per chatter, as
    m0018's index gives them without a topic (``insights.chatter_replies``)."""
    carried = " INCLUDE (reply_seconds, chat_id)" if postgres else ""
    return (
        "CREATE INDEX IF NOT EXISTS ofca_reply_topic_chatter ON ofca_reply_topic "
        f"(account_id, topic, chatter, first_inbound_at){carried} "
        "WHERE reply_seconds IS NOT NULL"
    )


async def forwards(engine: Engine[Any]) -> None:
    await engine.run_ddl(COLUMN)
    await engine.run_ddl(BACKFILL)
    await engine.run_ddl(index_sql(isinstance(engine, PostgresEngine)))
