"""Each chatter's reply statistics off the reply-time buckets (m0024), on Postgres:
the same count, mean, exact median and p90, longest and SLA share as sorting every
answered run of the window (``insights.chatter_replies``), reading few of the runs.

The window's whole UTC days sum ``ofca_reply_bucket_day`` (answered runs and seconds per
chatter, day and bucket) and its partial days their runs, giving each chatter's runs per
bucket. A percentile's ranked values then lie in known buckets at known places: they are
read from those buckets' runs of the window only (an index per chatter and bucket, in
time order), as are the longest run (the highest bucket) and the runs within the SLA in
the SLA's own bucket. ``percentile_cont``'s interpolation is repeated on the values.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ofca.domain.aggregates import ReplyStats, interpolate, percentile_ranks, reply_bucket
from ofca.domain.metrics import Window
from ofca.domain.money import UNASSIGNED
from ofca.insights.windows import levels, query, ranges_sql, together

__all__ = ["bucketed_reply_times"]

log = logging.getLogger(__name__)

_FRACTIONS = (0.5, 0.9)

_BUCKET_COUNTS = (
    "SELECT chatter, bucket, sum(answered) AS answered, sum(micros) AS micros FROM ("
    "SELECT chatter, bucket, answered, micros FROM ofca_reply_bucket_day "
    "WHERE account_id = {} AND day_start >= {} AND day_start < {} UNION ALL "
    "SELECT COALESCE(chatter, 'unassigned'), reply_bucket, 1, "
    "CAST(round(reply_seconds * 1000000) AS BIGINT) FROM ofca_reply "
    "WHERE account_id = {} AND reply_seconds IS NOT NULL AND PARTIAL"
    ") b GROUP BY chatter, bucket"
)
"""Per chatter and bucket: the window's answered runs and their reply times summed in
whole microseconds (as the refresh keeps them: exact, so the mean is the runs' own)."""

_RUNS = (
    "SELECT reply_seconds, reply_bucket FROM ofca_reply WHERE account_id = {} "
    "AND first_inbound_at >= {} AND first_inbound_at < {} AND reply_seconds IS NOT NULL "
)


def _runs(account_id: str, window: Window, chatter: str) -> tuple[str, list[Any]]:
    """``FROM`` one chatter's answered runs of the window (``unassigned`` also takes the
    runs without a stored chatter: a second index range, as in ``chatter_replies``)."""
    params: list[Any] = [account_id, window.start, window.end, chatter]
    if chatter != UNASSIGNED:
        return f"FROM ({_RUNS}AND chatter = {{}}) r", params
    return (
        f"FROM ({_RUNS}AND chatter = {{}} UNION ALL {_RUNS}AND chatter IS NULL) r",
        [*params, account_id, window.start, window.end],
    )


class _StaleBuckets(Exception):
    """The buckets counted runs the window no longer holds (a bug: the refresh keeps them
    with the runs in one transaction)."""


class _Histogram:
    """One chatter's answered runs of the window per bucket (ascending)."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.micros = 0

    def add(self, bucket: int, count: int, micros: int) -> None:
        if count:
            self.counts[bucket] = self.counts.get(bucket, 0) + count
            self.micros += micros

    def place(self, rank: int) -> tuple[int, int]:
        """(bucket, place within it) of the 0-based ``rank``-th smallest run."""
        below = 0
        for bucket in sorted(self.counts):
            if rank < below + self.counts[bucket]:
                return bucket, rank - below
            below += self.counts[bucket]
        raise ValueError(rank)


async def _chatter_stats(
    account_id: str, window: Window, chatter: str, histogram: _Histogram, sla_seconds: float
) -> ReplyStats:
    count = sum(histogram.counts.values())
    ranks = [percentile_ranks(count, fraction) for fraction in _FRACTIONS]
    wanted: dict[int, list[int]] = {}  # bucket -> places of ranked values in it
    for first, second, _ in ranks:
        for rank in (first, second):
            bucket, place = histogram.place(rank)
            wanted.setdefault(bucket, []).append(place)
    sla_bucket = reply_bucket(sla_seconds)
    runs, params = _runs(account_id, window, chatter)
    parts: list[str] = []
    values: list[Any] = []
    for bucket, places in wanted.items():
        parts.append(
            f"(SELECT {bucket} AS part, r.reply_seconds AS v {runs} WHERE r.reply_bucket = {{}} "
            "ORDER BY r.reply_seconds OFFSET {} LIMIT {})"
        )
        values += [*params, bucket, min(places), max(places) - min(places) + 1]
    parts.append(f"(SELECT -1, max(r.reply_seconds) {runs} WHERE r.reply_bucket = {{}})")
    values += [*params, max(histogram.counts)]
    if sla_bucket in histogram.counts:
        parts.append(
            f"(SELECT -2, count(*) {runs} WHERE r.reply_bucket = {{}} AND r.reply_seconds <= {{}})"
        )
        values += [*params, sla_bucket, sla_seconds]
    rows = await query(" UNION ALL ".join(parts), *values)
    in_bucket: dict[int, list[float]] = {}
    longest, within = 0.0, 0
    for row in rows:
        part, value = int(row["part"]), row["v"]
        if part == -1:
            longest = float(value)
        elif part == -2:
            within = int(value)
        else:
            in_bucket.setdefault(part, []).append(float(value))
    within += sum(n for bucket, n in histogram.counts.items() if bucket < sla_bucket)

    def ranked(rank: int) -> float:
        bucket, place = histogram.place(rank)
        values = sorted(in_bucket.get(bucket, ()))
        if place - min(wanted[bucket]) >= len(values):
            raise _StaleBuckets(chatter)
        return values[place - min(wanted[bucket])]

    median, p90 = (
        interpolate(ranked(first), ranked(second), proportion)
        for first, second, proportion in ranks
    )
    return ReplyStats(
        count=count,
        mean_seconds=histogram.micros / 1_000_000 / count,
        median_seconds=median,
        p90_seconds=p90,
        max_seconds=longest,
        unanswered=0,
        within_sla_percentage=within / count * 100.0,
        sla_seconds=float(sla_seconds),
    )


async def bucketed_reply_times(
    account_id: str, window: Window, sla_seconds: float
) -> dict[str, ReplyStats] | None:
    """Per chatter: the statistics of the window's answered runs whose reply is theirs;
    None when the window holds no whole UTC day (the runs answer it as cheaply), or when
    the buckets disagree with the runs (the caller sorts the runs: exact either way)."""
    days, hours, edges = levels(window.start, window.end)
    if not days:
        return None
    first_day, last_day = days[0]
    partial_sql, partial_params = ranges_sql("first_inbound_at", hours + edges)
    histograms: dict[str, _Histogram] = {}
    for row in await query(
        _BUCKET_COUNTS.replace("PARTIAL", partial_sql),
        account_id,
        first_day,
        last_day,
        account_id,
        *partial_params,
    ):
        histogram = histograms.setdefault(row["chatter"], _Histogram())
        histogram.add(int(row["bucket"]), int(row["answered"]), int(row["micros"] or 0))
    chatters: Sequence[str] = [c for c, h in histograms.items() if h.counts]
    try:
        stats = await together(
            *(_chatter_stats(account_id, window, c, histograms[c], sla_seconds) for c in chatters)
        )
    except _StaleBuckets as stale:
        log.warning("reply buckets of %s disagree with its runs (%s): sorting", account_id, stale)
        return None
    return dict(zip(chatters, stats, strict=True))
