"""Chat tallies: each chat's message count, fan sentiment and spend, kept by Postgres.

The conversation node (``conversations.nodes``) counted every message of its chat for each
live publication: ~4 ms for a chat of 2,600 messages right after a snapshot (no page of
``ofca_message`` is all-visible until a vacuum, so each index entry visits the heap), so a
publication of the 50 busiest chats of a 100k-message account cost 200-600 ms while the
snapshot's refresh competed for the cores, and deltas queued behind it (issue 19).

Statement triggers on ``ofca_message`` add what each statement changed (its transition
tables: rows in, rows out, grouped per chat) as one row per chat to ``ofca_chat_tally``; a
chat's tally is the sum of its rows. Every write path (deltas, snapshots' COPY, enrichment,
edits, topic retagging, erasure) keeps it without knowing of it, and writers only insert,
so they never wait on each other's rows. The insight refresh folds a chat's rows into one.
SQLite keeps counting (no triggers there; its accounts are small).
"""

from __future__ import annotations

from typing import Any

from piccolo.columns import BigInt, DoublePrecision, Varchar
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table


class ChatTallyRow(Table, tablename="ofca_chat_tally"):
    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    messages = BigInt()
    fan_sentiment_sum = DoublePrecision()
    fan_sentiment_count = BigInt()
    spend = DoublePrecision()


INDEX = "CREATE INDEX IF NOT EXISTS ofca_chat_tally_chat ON ofca_chat_tally (account_id, chat_id)"

# What one message adds to its chat's tally: the node's fan sentiment is the mean over
# inbound messages with a sentiment; its spend, tips' amounts and purchased offers' prices
# (the same tests as ``conversations.nodes`` used to sum).
_PARTS = (
    "1, "
    "CASE WHEN direction = 'inbound' AND sentiment IS NOT NULL THEN sentiment ELSE 0 END, "
    "CASE WHEN direction = 'inbound' AND sentiment IS NOT NULL THEN 1 ELSE 0 END, "
    "CASE WHEN price > 0 AND created_at IS NOT NULL AND ((direction = 'inbound' AND is_tip) "
    "OR (direction = 'outbound' AND NOT is_tip AND NOT is_free AND is_opened)) "
    "THEN price ELSE 0 END"
)
_NEGATED = (
    "-1, "
    "CASE WHEN direction = 'inbound' AND sentiment IS NOT NULL THEN -sentiment ELSE 0 END, "
    "CASE WHEN direction = 'inbound' AND sentiment IS NOT NULL THEN -1 ELSE 0 END, "
    "CASE WHEN price > 0 AND created_at IS NOT NULL AND ((direction = 'inbound' AND is_tip) "
    "OR (direction = 'outbound' AND NOT is_tip AND NOT is_free AND is_opened)) "
    "THEN -price ELSE 0 END"
)
_COLUMNS = "account_id, chat_id, messages, fan_sentiment_sum, fan_sentiment_count, spend"
_SUMS = "account_id, chat_id, sum(m), sum(s), sum(c), sum(p)"
_ROWS = "(account_id, chat_id, m, s, c, p)"


def _function(name: str, changes: str) -> str:
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"INSERT INTO ofca_chat_tally ({_COLUMNS}) SELECT {_SUMS} FROM ({changes}) AS d{_ROWS} "
        "GROUP BY account_id, chat_id "
        "HAVING sum(m) <> 0 OR sum(s) <> 0 OR sum(c) <> 0 OR sum(p) <> 0; "
        "RETURN NULL; END $$"
    )


TRIGGERS = (
    _function("ofca_chat_tally_inserted", f"SELECT account_id, chat_id, {_PARTS} FROM tally_new"),
    _function(
        "ofca_chat_tally_updated",
        f"SELECT account_id, chat_id, {_PARTS} FROM tally_new UNION ALL "
        f"SELECT account_id, chat_id, {_NEGATED} FROM tally_old",
    ),
    _function("ofca_chat_tally_deleted", f"SELECT account_id, chat_id, {_NEGATED} FROM tally_old"),
    "DROP TRIGGER IF EXISTS ofca_chat_tally_inserted ON ofca_message",
    "CREATE TRIGGER ofca_chat_tally_inserted AFTER INSERT ON ofca_message "
    "REFERENCING NEW TABLE AS tally_new "
    "FOR EACH STATEMENT EXECUTE FUNCTION ofca_chat_tally_inserted()",
    "DROP TRIGGER IF EXISTS ofca_chat_tally_updated ON ofca_message",
    "CREATE TRIGGER ofca_chat_tally_updated AFTER UPDATE ON ofca_message "
    "REFERENCING OLD TABLE AS tally_old NEW TABLE AS tally_new "
    "FOR EACH STATEMENT EXECUTE FUNCTION ofca_chat_tally_updated()",
    "DROP TRIGGER IF EXISTS ofca_chat_tally_deleted ON ofca_message",
    "CREATE TRIGGER ofca_chat_tally_deleted AFTER DELETE ON ofca_message "
    "REFERENCING OLD TABLE AS tally_old "
    "FOR EACH STATEMENT EXECUTE FUNCTION ofca_chat_tally_deleted()",
)

FILL = (
    f"INSERT INTO ofca_chat_tally ({_COLUMNS}) SELECT {_SUMS} FROM "
    f"(SELECT account_id, chat_id, {_PARTS} FROM ofca_message) AS d{_ROWS} "
    "GROUP BY account_id, chat_id"
)


async def forwards(engine: Engine[Any]) -> None:
    ChatTallyRow._meta.db = engine
    await ChatTallyRow.create_table(if_not_exists=True).run()
    await engine.run_ddl(INDEX)
    if isinstance(engine, PostgresEngine):
        # In the migration's transaction: CREATE TRIGGER locks writers out of
        # ofca_message until it commits, so the fill counts every row exactly once.
        for statement in TRIGGERS:
            await engine.run_ddl(statement)
        await engine.run_ddl(FILL)
