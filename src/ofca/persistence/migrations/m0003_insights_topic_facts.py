"""Reply runs and hourly fan sentiment per topic of their session, so the ``topic``
filter of the response-time and sentiment-trend insights is an index range, not a join."""

from __future__ import annotations

from typing import Any

from piccolo.columns import DoublePrecision, Integer, Timestamptz, Varchar
from piccolo.engine.base import Engine
from piccolo.table import Table


class ReplyTopicRow(Table, tablename="ofca_reply_topic"):
    account_id = Varchar(length=200)
    topic = Varchar(length=64)
    chat_id = Varchar(length=200)
    first_inbound_at = Timestamptz()
    reply_seconds = DoublePrecision(null=True, default=None)


class ActivityTopicRow(Table, tablename="ofca_activity_topic"):
    account_id = Varchar(length=200)
    topic = Varchar(length=64)
    chat_id = Varchar(length=200)
    hour_start = Timestamptz()
    sentiment_sum = DoublePrecision()
    sentiment_count = Integer()


INDEXES = (
    "CREATE INDEX IF NOT EXISTS ofca_reply_topic_time ON ofca_reply_topic "
    "(account_id, topic, first_inbound_at, reply_seconds)",
    "CREATE INDEX IF NOT EXISTS ofca_reply_topic_chat ON ofca_reply_topic (account_id, chat_id)",
    "CREATE INDEX IF NOT EXISTS ofca_activity_topic_time ON ofca_activity_topic "
    "(account_id, topic, hour_start, sentiment_sum, sentiment_count)",
    "CREATE INDEX IF NOT EXISTS ofca_activity_topic_chat ON ofca_activity_topic "
    "(account_id, chat_id)",
)

# Backfill from the read models of databases already at m0003.
BACKFILL = (
    "INSERT INTO ofca_reply_topic (account_id, topic, chat_id, first_inbound_at, reply_seconds) "
    "SELECT r.account_id, st.topic, r.chat_id, r.first_inbound_at, r.reply_seconds "
    "FROM ofca_reply r JOIN ofca_session_topic st ON st.account_id = r.account_id "
    "AND st.chat_id = r.chat_id AND st.start_at = r.session_start_at",
    "INSERT INTO ofca_activity_topic (account_id, topic, chat_id, hour_start, sentiment_sum, "
    "sentiment_count) SELECT a.account_id, st.topic, a.chat_id, a.hour_start, a.sentiment_sum, "
    "a.sentiment_count FROM ofca_activity a JOIN ofca_session_topic st "
    "ON st.account_id = a.account_id AND st.chat_id = a.chat_id "
    "AND st.start_at = a.session_start_at WHERE a.sentiment_count > 0",
)


async def forwards(engine: Engine[Any]) -> None:
    for table in (ReplyTopicRow, ActivityTopicRow):
        table._meta.db = engine
        await table.create_table(if_not_exists=True).run()
    for statement in INDEXES:
        await engine.run_ddl(statement)
    for statement in BACKFILL:
        await engine.run_ddl(statement)
