"""The fast path for local hours (``insights.buckets.local_bucket_starts``) gives exactly
the buckets of ``domain.metrics.bucket_starts`` (same instants, same offsets), in zones
with whole-hour, half-hour and 45-minute offsets, half-hour DST (Lord Howe), a skipped
day (Apia) and negative DST (Dublin), for windows cut anywhere and crossing changes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ofca.domain.metrics import Window, bucket_starts
from ofca.insights.buckets import local_bucket_starts

ZONES = (
    "UTC",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Pacific/Chatham",
    "Pacific/Apia",
    "Europe/Dublin",
)


@pytest.mark.parametrize("zone", ZONES)
def test_local_hours_are_the_general_buckets(zone: str) -> None:
    rng = random.Random(zone)
    tz = ZoneInfo(zone)
    for _ in range(30):
        start = datetime(2010, 1, 1, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(16 * 365 * 86_400)
        )
        start = start.replace(minute=rng.choice((0, 15, 30, 45, start.minute)))
        end = start + timedelta(hours=rng.choice((1, 5, 30, 24 * 40, 24 * 200)), minutes=7)
        window = Window(start, end)
        expected = bucket_starts(window, tz, "hour")
        got = local_bucket_starts(window, tz, "hour")
        assert got == expected, (zone, start, end)
        assert [s.utcoffset() for s in got] == [s.utcoffset() for s in expected]
