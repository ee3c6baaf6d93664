"""Insights read models: custom topics, sessions, session topics, replies, hourly activity,
first message per chat (docs/metrics.md; maintained per chat by ``ofca.insights.projector``).

Seconds, percentages and sentiment sums are double precision: Postgres ``REAL`` is a
4-byte float, too coarse for the 1e-6 agreement the metrics are tested to."""

from __future__ import annotations

from typing import Any

from piccolo.columns import JSON, BigInt, DoublePrecision, Integer, Timestamptz, Varchar
from piccolo.engine.base import Engine
from piccolo.table import Table


class TopicSet(Table, tablename="ofca_topic_set"):
    account_id = Varchar(length=200, unique=True)
    version = BigInt(default=0)
    updated_at = Timestamptz()


class CustomTopic(Table, tablename="ofca_custom_topic"):
    account_id = Varchar(length=200)
    topic_id = Varchar(length=64)
    label = Varchar(length=200)
    keywords = JSON(default="[]")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class SessionRow(Table, tablename="ofca_session"):
    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    start_at = Timestamptz()
    end_at = Timestamptz()
    first_message_id = Varchar(length=200)
    last_message_id = Varchar(length=200)
    message_count = Integer()
    inbound_count = Integer()
    outbound_count = Integer()
    duration_seconds = DoublePrecision()
    silence_seconds = DoublePrecision()
    silence_percentage = DoublePrecision(null=True, default=None)
    turns = Integer()
    sentiment_sum = DoublePrecision()
    sentiment_count = Integer()
    sentiment_score = DoublePrecision(null=True, default=None)
    topics = JSON(default="[]")


class SessionTopicRow(Table, tablename="ofca_session_topic"):
    account_id = Varchar(length=200)
    topic = Varchar(length=64)
    start_at = Timestamptz()
    end_at = Timestamptz()
    chat_id = Varchar(length=200)
    message_count = Integer()
    duration_seconds = DoublePrecision()
    silence_percentage = DoublePrecision(null=True, default=None)
    turns = Integer()
    sentiment_score = DoublePrecision(null=True, default=None)


class ReplyRow(Table, tablename="ofca_reply"):
    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    first_inbound_at = Timestamptz()
    first_inbound_message_id = Varchar(length=200)
    replied_at = Timestamptz(null=True, default=None)
    reply_seconds = DoublePrecision(null=True, default=None)
    session_start_at = Timestamptz()


class ActivityRow(Table, tablename="ofca_activity"):
    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    session_start_at = Timestamptz()
    hour_start = Timestamptz()
    messages = Integer()
    inbound = Integer()
    outbound = Integer()
    sentiment_sum = DoublePrecision()
    sentiment_count = Integer()


class ChatFirstRow(Table, tablename="ofca_chat_first"):
    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    first_at = Timestamptz()


INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS ofca_custom_topic_account_topic "
    "ON ofca_custom_topic (account_id, topic_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ofca_session_account_chat_start "
    "ON ofca_session (account_id, chat_id, start_at)",
    # Covering: window aggregates read only the index.
    "CREATE INDEX IF NOT EXISTS ofca_session_account_start ON ofca_session "
    "(account_id, start_at, message_count, duration_seconds, silence_percentage, turns, "
    "sentiment_score)",
    "CREATE INDEX IF NOT EXISTS ofca_session_topic_account_start ON ofca_session_topic "
    "(account_id, start_at, topic, duration_seconds, silence_percentage, turns, sentiment_score)",
    "CREATE INDEX IF NOT EXISTS ofca_session_topic_account_topic ON ofca_session_topic "
    "(account_id, topic, start_at, chat_id, end_at, duration_seconds, silence_percentage, turns, "
    "sentiment_score)",
    "CREATE INDEX IF NOT EXISTS ofca_session_topic_account_chat ON ofca_session_topic "
    "(account_id, chat_id, start_at)",
    "CREATE INDEX IF NOT EXISTS ofca_reply_account_time ON ofca_reply "
    "(account_id, first_inbound_at, reply_seconds)",
    "CREATE INDEX IF NOT EXISTS ofca_reply_account_chat ON ofca_reply "
    "(account_id, chat_id, first_inbound_at)",
    "CREATE INDEX IF NOT EXISTS ofca_activity_account_hour ON ofca_activity "
    "(account_id, hour_start, chat_id, messages, inbound, outbound, sentiment_sum, "
    "sentiment_count)",
    "CREATE INDEX IF NOT EXISTS ofca_activity_account_chat ON ofca_activity "
    "(account_id, chat_id, session_start_at, hour_start)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ofca_chat_first_account_chat "
    "ON ofca_chat_first (account_id, chat_id)",
    "CREATE INDEX IF NOT EXISTS ofca_chat_first_account_time ON ofca_chat_first "
    "(account_id, first_at)",
)


async def forwards(engine: Engine[Any]) -> None:
    for table in (
        TopicSet,
        CustomTopic,
        SessionRow,
        SessionTopicRow,
        ReplyRow,
        ActivityRow,
        ChatFirstRow,
    ):
        table._meta.db = engine
        await table.create_table(if_not_exists=True).run()
    for statement in INDEXES:
        await engine.run_ddl(statement)
