"""Each chatter's reply statistics in a window (docs/metrics.md "Chatters"): count, mean,
exact median and p90, longest, SLA share of the answered runs whose reply is theirs.

Without a chat or topic filter, Postgres computes them one chatter at a time: a range of
the index of answered runs per chatter (m0018) sorted in memory for ``percentile_cont``
(the same interpolation as ``statistics``), all chatters' queries at once. Grouping every
run of the window by chatter in one statement sorted them all first, on disk past
``work_mem``: 50-75 ms at 90 days of 1M messages (173k runs), against ~7 ms for each of
the four chatters' ranges. The chatters come from a skip over that index (one step per
chatter). With a filter, one grouped statement (the topic test is done once). SQLite has
no ``percentile_cont``: it reads the values and computes them in Python.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any

from ofca.domain.aggregates import ReplyStats, median_p90
from ofca.domain.money import UNASSIGNED
from ofca.insights.windows import is_postgres, query, together

__all__ = ["reply_times"]

_CHATTER = "COALESCE(r.chatter, 'unassigned')"
_CHATTERS = (
    "WITH RECURSIVE c(chatter) AS (SELECT min(chatter) FROM ofca_reply "
    "WHERE account_id = {} AND reply_seconds IS NOT NULL UNION ALL "
    "SELECT (SELECT min(r.chatter) FROM ofca_reply r WHERE r.account_id = {} "
    "AND r.reply_seconds IS NOT NULL AND r.chatter > c.chatter) FROM c "
    "WHERE c.chatter IS NOT NULL) SELECT chatter FROM c WHERE chatter IS NOT NULL"
)
"""The account's chatters with an answered run (ever), one index step each."""
_SUMS = (
    "count(*) AS answered, sum(r.reply_seconds) AS total, max(r.reply_seconds) AS longest, "
    "sum(CASE WHEN r.reply_seconds <= {} THEN 1 ELSE 0 END) AS within"
)


def _stats(row: Any, median: float, p90: float, sla_seconds: float) -> ReplyStats:
    count = int(row["answered"])
    return ReplyStats(
        count=count,
        mean_seconds=float(row["total"]) / count,
        median_seconds=median,
        p90_seconds=p90,
        max_seconds=float(row["longest"]),
        unanswered=0,
        within_sla_percentage=int(row["within"] or 0) / count * 100.0,
        sla_seconds=float(sla_seconds),
    )


async def reply_times(
    account_id: str, where: str, params: Sequence[Any], sla_seconds: float, *, filtered: bool
) -> dict[str, ReplyStats]:
    """Per chatter: the statistics of the answered runs ``r`` that ``where`` (``FROM
    ofca_reply r WHERE ...``, its ``params``) keeps; ``filtered``: it keeps a chat's or a
    topic's runs only (few, or tested against the session topics, which one statement
    does once rather than once per chatter: 4 x 44 ms at 30 days with a topic)."""
    if not is_postgres():
        return await _from_values(where, params, sla_seconds)
    if filtered:
        return await _grouped(where, params, sla_seconds)
    chatters = [row["chatter"] for row in await query(_CHATTERS, account_id, account_id)]
    if UNASSIGNED not in chatters:
        chatters.append(UNASSIGNED)  # runs whose reply has no stored chatter
    rows = await together(*(_one_chatter(where, params, sla_seconds, c) for c in chatters))
    stats: dict[str, ReplyStats] = {}
    for chatter, (row,) in zip(chatters, rows, strict=True):
        if int(row["answered"] or 0):
            median, p90 = (float(value) for value in row["percentiles"])
            stats[chatter] = _stats(row, median, p90, sla_seconds)
    return stats


def _one_chatter(
    where: str, params: Sequence[Any], sla_seconds: float, chatter: str
) -> Awaitable[Sequence[Any]]:
    """One chatter's statistics, off their range of the index. ``unassigned`` also takes
    the runs without a stored chatter: a second range, not ``OR`` (which Postgres answered
    by reading every chatter's runs of the window and filtering them: 31 ms instead of
    2-6 for a topic's 30 days at 1M messages)."""
    select = (
        f"SELECT {_SUMS}, percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP "
        "(ORDER BY r.reply_seconds) AS percentiles "
    )
    if chatter != UNASSIGNED:
        return query(f"{select}{where} AND r.chatter = {{}}", sla_seconds, *params, chatter)
    return query(
        f"{select}FROM (SELECT r.reply_seconds {where} AND r.chatter = {{}} "
        f"UNION ALL SELECT r.reply_seconds {where} AND r.chatter IS NULL) r",
        sla_seconds,
        *params,
        chatter,
        *params,
    )


async def _grouped(where: str, params: Sequence[Any], sla_seconds: float) -> dict[str, ReplyStats]:
    rows = await query(
        f"SELECT {_CHATTER} AS chatter, {_SUMS}, percentile_cont(ARRAY[0.5, 0.9]) WITHIN "
        f"GROUP (ORDER BY r.reply_seconds) AS percentiles {where} GROUP BY {_CHATTER}",
        sla_seconds,
        *params,
    )
    stats: dict[str, ReplyStats] = {}
    for row in rows:
        median, p90 = (float(value) for value in row["percentiles"])
        stats[row["chatter"]] = _stats(row, median, p90, sla_seconds)
    return stats


async def _from_values(
    where: str, params: Sequence[Any], sla_seconds: float
) -> dict[str, ReplyStats]:
    rows = await query(
        f"SELECT {_CHATTER} AS chatter, {_SUMS} {where} GROUP BY {_CHATTER}", sla_seconds, *params
    )
    values: dict[str, list[float]] = {}
    for r in await query(f"SELECT {_CHATTER} AS chatter, r.reply_seconds AS v {where}", *params):
        values.setdefault(r["chatter"], []).append(float(r["v"]))
    stats: dict[str, ReplyStats] = {}
    for row in rows:
        v = values[row["chatter"]]
        median, p90 = (v[0], v[0]) if len(v) == 1 else median_p90(v)
        stats[row["chatter"]] = _stats(row, median, p90, sla_seconds)
    return stats
