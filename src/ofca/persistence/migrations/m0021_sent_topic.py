"""Each chatter's sent messages per session hour and topic (``ofca_sent_topic``,
docs/metrics.md "Chatters" with the ``topic`` filter).

With a topic the leaderboard counted each chatter's sent messages and fans over every sent
message of the window tested against the topic's sessions: 208k messages for 90 days at
1M messages (~100 ms). The refresh now keeps, beside a session's hourly topic activity,
one row per (topic of the session, chatter, chat, UTC hour) with the messages the chatter
sent in that session's hour: whole hours of a window sum the rows, the partial hours at
its ends read the messages. Filled here from the stored messages and session topics.
"""

from __future__ import annotations

import bisect
from datetime import datetime
from typing import Any

from piccolo.columns import Integer, Timestamptz, Varchar
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

from ofca.persistence.sql import to_utc


class SentTopicRow(Table, tablename="ofca_sent_topic"):
    account_id = Varchar(length=200)
    topic = Varchar(length=64)
    chatter = Varchar(length=250)
    chat_id = Varchar(length=200)
    hour_start = Timestamptz()
    messages = Integer()


COLUMNS = ("account_id", "topic", "chatter", "chat_id", "hour_start", "messages")


def index_sql(postgres: bool) -> tuple[str, ...]:
    carried = " INCLUDE (chatter, chat_id, messages)" if postgres else ""
    return (
        # A topic's whole hours of a window, summed from the index alone.
        "CREATE INDEX IF NOT EXISTS ofca_sent_topic_time ON ofca_sent_topic "
        f"(account_id, topic, hour_start){carried}",
        # A chat's rows (refresh).
        "CREATE INDEX IF NOT EXISTS ofca_sent_topic_chat ON ofca_sent_topic "
        "(account_id, chat_id, hour_start)",
    )


def _hour(instant: datetime) -> datetime:
    return instant.replace(minute=0, second=0, microsecond=0)


async def fill_account(engine: Engine[Any], account_id: str) -> None:
    """Write the rows of one account's sent messages (the table holds none of them yet)."""
    SentTopicRow._meta.db = engine
    sessions: dict[str, dict[datetime, tuple[datetime, list[str]]]] = {}
    for row in await SentTopicRow.raw(
        "SELECT chat_id, start_at, end_at, topic FROM ofca_session_topic WHERE account_id = {}",
        account_id,
    ).run():
        chat = sessions.setdefault(row["chat_id"], {})
        began = to_utc(row["start_at"])
        chat.setdefault(began, (to_utc(row["end_at"]), []))[1].append(row["topic"])
    starts = {chat_id: sorted(chat) for chat_id, chat in sessions.items()}
    counts: dict[tuple[str, str, str, datetime], int] = {}
    for row in await SentTopicRow.raw(
        "SELECT chat_id, COALESCE(chatter, 'unassigned') AS chatter, created_at "
        "FROM ofca_message WHERE account_id = {} AND direction = 'outbound' "
        "AND created_at IS NOT NULL",
        account_id,
    ).run():
        chat_starts = starts.get(row["chat_id"])
        if not chat_starts:
            continue
        at = to_utc(row["created_at"])
        index = bisect.bisect_right(chat_starts, at) - 1
        if index < 0:
            continue
        end, topics = sessions[row["chat_id"]][chat_starts[index]]
        if at > end:
            continue
        for topic in topics:
            key = (topic, row["chatter"], row["chat_id"], _hour(at))
            counts[key] = counts.get(key, 0) + 1
    values: list[tuple[Any, ...]] = [
        (account_id, *key, messages) for key, messages in sorted(counts.items())
    ]
    for first in range(0, len(values), 1000):
        await SentTopicRow.insert(
            *(
                SentTopicRow(**dict(zip(COLUMNS, v, strict=True)))
                for v in values[first : first + 1000]
            )
        ).run()


async def forwards(engine: Engine[Any]) -> None:
    SentTopicRow._meta.db = engine
    await SentTopicRow.create_table(if_not_exists=True).run()
    accounts = await SentTopicRow.raw("SELECT DISTINCT account_id FROM ofca_session_topic").run()
    for account in accounts:
        await fill_account(engine, account["account_id"])
    for statement in index_sql(isinstance(engine, PostgresEngine)):
        await engine.run_ddl(statement)
