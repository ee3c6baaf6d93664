"""Each chatter's sent messages and distinct fans in a window (docs/metrics.md
"Chatters"), off the chatter days the refresh keeps (``ofca_chatter_day``, m0017).

Whole UTC days sum the rows; a chatter's fans in them are their rows whose previous day in
that chat lies before the first whole day (counted once, at the first day inside). The
partial days at the window's ends read the sent messages (by index) and add the chats the
chatter did not send to in the whole days.
"""

from __future__ import annotations

from ofca.domain.metrics import Window
from ofca.domain.money import ChatterSent
from ofca.insights.spend import CHATTER_SQL
from ofca.insights.windows import levels, query, ranges_sql, together

__all__ = ["sent_from_days"]


async def sent_from_days(account_id: str, window: Window) -> dict[str, ChatterSent] | None:
    """Per chatter: (messages sent, distinct chats sent to) in the window; None when the
    window holds no whole UTC day (the messages answer it alone, as cheaply)."""
    days, hours, edges = levels(window.start, window.end)
    if not days:
        return None
    first_day, last_day = days[0]
    partial_sql, partial_params = ranges_sql("m.created_at", hours + edges)
    whole, partial = await together(
        query(
            "SELECT d.chatter, sum(d.messages) AS messages, sum(CASE WHEN d.previous_day IS "
            "NULL OR d.previous_day < {} THEN 1 ELSE 0 END) AS fans FROM ofca_chatter_day d "
            "WHERE d.account_id = {} AND d.day_start >= {} AND d.day_start < {} "
            "GROUP BY d.chatter",
            first_day,
            account_id,
            first_day,
            last_day,
        ),
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
    return sent
