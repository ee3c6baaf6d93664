"""Each chatter's sent messages and distinct fans in a window (docs/metrics.md
"Chatters"), off the chatter days the refresh keeps (``ofca_chatter_day``, m0017) and
their totals per day (``ofca_chatter_day_total``, m0023).

Whole UTC days sum the rows; a chatter's fans in them are their rows whose previous day in
that chat lies before the first whole day (counted once, at the first day inside). The
partial days at the window's ends read the sent messages (by index) and add the chats the
chatter did not send to in the whole days.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ofca.domain.metrics import Window
from ofca.domain.money import ChatterSent
from ofca.insights.spend import CHATTER_SQL
from ofca.insights.windows import levels, query, ranges_sql, together

__all__ = ["sent_from_days"]


_DIRECT = (
    "SELECT d.chatter, sum(d.messages) AS messages, sum(CASE WHEN d.previous_day IS "
    "NULL OR d.previous_day < {} THEN 1 ELSE 0 END) AS fans FROM ofca_chatter_day d "
    "WHERE d.account_id = {} AND d.day_start >= {} AND d.day_start < {} "
    "GROUP BY d.chatter"
)
"""Whole days from the chatter days themselves: a row each (chatter, chat, day)."""

_TOTALS = (
    "SELECT chatter, sum(messages) AS messages, sum(chats) - sum(followed) AS fans "
    "FROM ofca_chatter_day_total WHERE account_id = {} AND day_start >= {} AND day_start < {} "
    "GROUP BY chatter UNION ALL "
    "SELECT chatter, 0, count(*) FROM ofca_chatter_day WHERE account_id = {} "
    "AND day_start >= {} AND previous_day >= {} AND previous_day < {} GROUP BY chatter"
)
"""Whole days from the day totals (m0023): the days' chats less the rows following a day
of the window, plus those of them that lie after it (the only chatter days read)."""


async def sent_from_days(
    account_id: str, window: Window, *, by_totals: bool | None = None
) -> dict[str, ChatterSent] | None:
    """Per chatter: (messages sent, distinct chats sent to) in the window; None when the
    window holds no whole UTC day (the messages answer it alone, as cheaply).

    ``by_totals`` (default: when the window ends closer to now than it is long) reads the
    whole days off the day totals, which also reads the chatter days after the window;
    else the chatter days of the window (as many as ~100k at 90 days of 1M messages)."""
    days, hours, edges = levels(window.start, window.end)
    if not days:
        return None
    first_day, last_day = days[0]
    if by_totals is None:
        by_totals = datetime.now(UTC) - last_day < last_day - first_day
    if by_totals:
        whole_days = query(
            _TOTALS, account_id, first_day, last_day, account_id, last_day, first_day, last_day
        )
    else:
        whole_days = query(_DIRECT, first_day, account_id, first_day, last_day)
    partial_sql, partial_params = ranges_sql("m.created_at", hours + edges)
    whole, partial = await together(
        whole_days,
        query(
            "SELECT e.chatter, sum(e.n) AS messages, sum(CASE WHEN EXISTS (SELECT 1 FROM "
            "ofca_chatter_day g WHERE g.account_id = {} AND g.chat_id = e.chat_id "
            "AND g.chatter = e.chatter AND g.day_start >= {} AND g.day_start < {}) "
            "THEN 0 ELSE 1 END) AS fans FROM ("
            f"SELECT {CHATTER_SQL} AS chatter, m.chat_id, count(*) AS n FROM ofca_message m "
            f"WHERE m.account_id = {{}} AND m.direction = 'outbound' AND {partial_sql} "
            "GROUP BY 1, 2) e GROUP BY e.chatter",
            account_id,
            first_day,
            last_day,
            account_id,
            *partial_params,
        ),
    )
    sent: dict[str, ChatterSent] = {}
    for row in [*whole, *partial]:
        before = sent.get(row["chatter"], ChatterSent())
        sent[row["chatter"]] = ChatterSent(
            messages_sent=before.messages_sent + int(row["messages"] or 0),
            fans=before.fans + int(row["fans"] or 0),
        )
    return {chatter: counts for chatter, counts in sent.items() if counts != ChatterSent()}
