"""Each chat's tally on Postgres (``ofca_chat_tally``, m0026): message count, fan sentiment
sum and count, and spend, as rows that statement triggers on ``ofca_message`` add with
every write; a chat's tally is the sum of its rows. :func:`fold_chat_tallies` replaces a
chat's rows by their sum (the insight refresh calls it), so a chat has few rows to add up.
"""

from __future__ import annotations

from collections.abc import Sequence

from piccolo.engine.postgres import PostgresEngine

from ofca.persistence.sql import database, fetch_rows, numbered

__all__ = ["TALLY_OF_CHAT", "fold_chat_tallies"]

TALLY_OF_CHAT = (
    "SELECT sum(t.messages) AS total, "
    "sum(t.fan_sentiment_sum) / NULLIF(sum(t.fan_sentiment_count), 0) AS fan_sentiment, "
    "GREATEST(sum(t.spend), 0) AS spend FROM ofca_chat_tally t "
    "WHERE t.account_id = c.account_id AND t.chat_id = c.chat_id"
)
"""The tally of chat ``c`` (a row of ``ofca_chat``): its messages, its fan sentiment (the
mean over inbound messages with one, NULL without) and its spend (never below 0: adding
and taking away floating-point prices may leave -1e-15)."""

_COLUMNS = "account_id, chat_id, messages, fan_sentiment_sum, fan_sentiment_count, spend"
# A chat without messages (erased) keeps no row. Rows written concurrently are not in the
# DELETE's snapshot and stay as they are; a concurrent fold of the same chat waits for this
# one and then finds its rows gone.
_FOLD = (
    "WITH gone AS (DELETE FROM ofca_chat_tally WHERE account_id = {} "
    f"AND chat_id = ANY({{}}::varchar[]) RETURNING {_COLUMNS}) "
    f"INSERT INTO ofca_chat_tally ({_COLUMNS}) SELECT account_id, chat_id, sum(messages), "
    "sum(fan_sentiment_sum), sum(fan_sentiment_count), sum(spend) FROM gone "
    "GROUP BY account_id, chat_id HAVING sum(messages) <> 0"
)
_FOLD_NUMBERED = numbered(_FOLD)


async def fold_chat_tallies(account_id: str, chat_ids: Sequence[str]) -> None:
    """Replace these chats' tally rows by one row each, none for a chat without messages
    (Postgres; SQLite has no tally)."""
    if chat_ids and isinstance(database(), PostgresEngine):
        await fetch_rows(_FOLD, account_id, list(chat_ids), prepared=_FOLD_NUMBERED)
