"""Sessions, replies, windows, buckets and insight aggregates, checked by hand.

Every expected value is worked out in the comments next to it from METRICS.md.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from ofca.domain.aggregates import (
    overview_values,
    reply_stats,
    sentiment_trend,
    summarize_sessions,
    topic_rows,
)
from ofca.domain.metrics import (
    MessagePoint,
    ReplyRun,
    SessionStats,
    Window,
    bucket_index,
    bucket_locator,
    bucket_start,
    bucket_starts,
    chat_analysis,
    order_key,
    reply_runs,
    resolve_window,
    runs_in_sessions,
    runs_in_window,
    session_stats,
    sessions_in_window,
    split_sessions,
)

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # a Monday
GAP = timedelta(minutes=30)
SILENCE = timedelta(seconds=120)
BERLIN = ZoneInfo("Europe/Berlin")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def msg(
    message_id: str,
    seconds: float,
    direction: str = "inbound",
    sentiment: float | None = None,
    topics: tuple[str, ...] = (),
) -> MessagePoint:
    return MessagePoint(
        message_id=message_id,
        created_at=at(seconds),
        direction=direction,  # type: ignore[arg-type]
        sentiment=sentiment,
        topics=topics,
    )


def ids(session: list[MessagePoint]) -> list[str]:
    return [p.message_id for p in session]


# --------------------------------------------------------------------------- sessions


def test_gap_equal_to_session_gap_stays_in_the_session() -> None:
    # 0 -> 1800 s is exactly 30 min: not greater than the gap, same session.
    sessions = split_sessions([msg("a", 0), msg("b", 1800)], GAP)
    assert [ids(s) for s in sessions] == [["a", "b"]]


def test_gap_over_session_gap_starts_a_new_session() -> None:
    # 0 -> 1801 s is one second over 30 min: new session.
    sessions = split_sessions([msg("a", 0), msg("b", 1801), msg("c", 1900)], GAP)
    assert [ids(s) for s in sessions] == [["a"], ["b", "c"]]


def test_sessions_follow_chat_order_time_then_message_id() -> None:
    # Input order is irrelevant; equal times are ordered by message id as a string,
    # so "10" sorts before "9".
    points = [msg("9", 60), msg("c", 0), msg("10", 60)]
    assert [ids(s) for s in split_sessions(points, GAP)] == [["c", "10", "9"]]
    assert order_key(points[0]) == (at(60), "9")
    assert split_sessions([], GAP) == []


def test_session_stats_by_hand() -> None:
    points = [
        msg("m1", 0, "inbound", 0.8, ("greeting",)),
        msg("m2", 60, "outbound", 0.9),  # gap 60 < 120: not silence
        msg("m3", 180, "unknown", 0.1),  # gap 120 == threshold: silence, counts whole
        msg("m4", 299, "inbound", 0.4, ("tips_gifts",)),  # gap 119: not silence
        msg("m5", 600, "inbound", None),  # gap 301: silence; inbound but no text
        msg("m6", 610, "outbound", 0.2, ("greeting",)),  # gap 10
    ]
    stats = session_stats("chat", list(reversed(points)), SILENCE)
    assert stats.chat_id == "chat"
    assert (stats.start_at, stats.end_at) == (at(0), at(610))
    assert (stats.first_message_id, stats.last_message_id) == ("m1", "m6")
    assert (stats.message_count, stats.inbound_count, stats.outbound_count) == (6, 3, 2)
    assert stats.duration_seconds == 610.0
    assert stats.silence_seconds == 120.0 + 301.0  # 421
    assert stats.silence_percentage == pytest.approx(421 / 610 * 100)  # 69.016...
    # Directions without the unknown m3: in | out | in in | out -> 4 runs -> 3 turns.
    assert stats.turns == 3
    # Fan sentiment: inbound with a score: m1 0.8, m4 0.4 -> (0.8 + 0.4) / 2 = 0.6.
    # Outbound (0.9, 0.2) and unknown (0.1) scores are not the fan's.
    assert stats.sentiment_count == 2
    assert stats.sentiment_sum == pytest.approx(1.2)
    assert stats.sentiment_score == pytest.approx(0.6)
    assert stats.topics == ("greeting", "tips_gifts")


def test_single_message_session() -> None:
    stats = session_stats("chat", [msg("a", 0, "outbound", 0.7)], SILENCE)
    assert stats.duration_seconds == 0.0
    assert stats.silence_seconds == 0.0
    assert stats.silence_percentage is None  # 0 / 0 is undefined
    assert stats.turns == 0  # one run - 1
    assert stats.sentiment_score is None  # no inbound message
    with pytest.raises(ValueError):
        session_stats("chat", [], SILENCE)


def test_silence_threshold_edges() -> None:
    # One gap of 120 s: counted with threshold 120 s, not with 121 s; a gap of 119 s is
    # not counted with threshold 120 s.
    pair = [msg("a", 0), msg("b", 120)]
    assert session_stats("c", pair, timedelta(seconds=120)).silence_seconds == 120.0
    assert session_stats("c", pair, timedelta(seconds=120)).silence_percentage == 100.0
    assert session_stats("c", pair, timedelta(seconds=121)).silence_seconds == 0.0
    assert session_stats("c", pair, timedelta(seconds=121)).silence_percentage == 0.0
    short = [msg("a", 0), msg("b", 119)]
    assert session_stats("c", short, timedelta(seconds=120)).silence_seconds == 0.0


@pytest.mark.parametrize(
    ("directions", "turns"),
    [
        (["inbound", "inbound", "inbound"], 0),  # one run
        (["inbound", "unknown", "inbound"], 0),  # unknown does not split the run
        (["inbound", "unknown", "outbound"], 1),  # in | out
        (["unknown", "unknown"], 0),  # no runs at all: floored at 0
        (["outbound", "inbound", "unknown", "inbound", "outbound", "inbound"], 3),
        # out | in (unknown) in | out | in -> 4 runs -> 3 turns
    ],
)
def test_turns_ignore_unknown_direction(directions: list[str], turns: int) -> None:
    points = [msg(f"m{i}", i * 10, d) for i, d in enumerate(directions)]
    assert session_stats("c", points, SILENCE).turns == turns


# --------------------------------------------------------------------------- replies


def conversation() -> list[MessagePoint]:
    return [
        msg("a", 0, "inbound"),
        msg("b", 10, "inbound"),
        msg("c", 50, "outbound"),  # answers run a..b: 50 - 0 = 50 s
        msg("d", 100, "inbound"),
        msg("e", 120, "unknown"),  # neither ends nor starts a run
        msg("f", 200, "outbound"),  # answers run d: 200 - 100 = 100 s
        msg("g", 210, "outbound"),  # nothing left to answer
        msg("h", 1000, "inbound"),
        # 4000 - 1000 = 3000 s > 30 min: "i" opens a new session but still answers "h".
        msg("i", 4000, "outbound"),
        msg("j", 6000, "inbound"),  # never answered
    ]


def test_reply_runs_across_sessions_and_unanswered() -> None:
    runs = reply_runs("chat", reversed(conversation()))
    assert [(r.first_inbound_message_id, r.reply_seconds) for r in runs] == [
        ("a", 50.0),
        ("d", 100.0),
        ("h", 3000.0),
        ("j", None),
    ]
    assert runs[0].first_inbound_at == at(0) and runs[0].replied_at == at(50)
    assert runs[3].replied_at is None
    assert {r.chat_id for r in runs} == {"chat"}


def test_outbound_before_any_fan_message_answers_nothing() -> None:
    # out(0) is ignored; run "b" (10) answered by "c" (25): 15 s.
    points = [msg("a", 0, "outbound"), msg("b", 10, "inbound"), msg("c", 25, "outbound")]
    assert [(r.first_inbound_message_id, r.reply_seconds) for r in reply_runs("x", points)] == [
        ("b", 15.0)
    ]
    # Only unknown after the fan: unanswered.
    points = [msg("a", 0, "inbound"), msg("b", 5, "unknown")]
    assert [r.reply_seconds for r in reply_runs("x", points)] == [None]
    assert reply_runs("x", []) == []


def test_chat_analysis_sessions_and_replies() -> None:
    sessions, runs = chat_analysis("chat", conversation(), GAP, SILENCE)
    # Times 0..1000 have no gap over 1800 s; 1000 -> 4000 and 4000 -> 6000 both exceed it.
    assert [(s.first_message_id, s.message_count) for s in sessions] == [
        ("a", 8),
        ("i", 1),
        ("j", 1),
    ]
    assert len(runs) == 4
    # runs_in_sessions (topic filter): run "h" starts in the first session even though
    # its reply lies in the second; run "j" is in the third session.
    assert [r.first_inbound_message_id for r in runs_in_sessions(runs, sessions[:1])] == [
        "a",
        "d",
        "h",
    ]
    assert [r.first_inbound_message_id for r in runs_in_sessions(runs, sessions[2:])] == ["j"]
    # Another chat's session with the same times does not claim them.
    other = SessionStats(**{**_struct_dict(sessions[0]), "chat_id": "other"})
    assert runs_in_sessions(runs, [other]) == []


def _struct_dict(stats: SessionStats) -> dict[str, object]:
    return {f: getattr(stats, f) for f in stats.__struct_fields__}


# --------------------------------------------------------------------------- reply stats


def run(seconds: float | None, start: float = 0) -> ReplyRun:
    return ReplyRun(
        chat_id="c",
        first_inbound_at=at(start),
        first_inbound_message_id=f"m{start}",
        replied_at=None if seconds is None else at(start + seconds),
        reply_seconds=seconds,
    )


def test_reply_stats_one_value() -> None:
    stats, reasons = reply_stats([run(42)], sla_seconds=300)
    # A single value is its own mean, median, p90 and max.
    assert (stats.count, stats.mean_seconds, stats.median_seconds) == (1, 42.0, 42.0)
    assert (stats.p90_seconds, stats.max_seconds) == (42.0, 42.0)
    assert stats.within_sla_percentage == 100.0
    assert reasons == {}


def test_reply_stats_two_values() -> None:
    stats, _ = reply_stats([run(20), run(10)], sla_seconds=15)
    assert stats.mean_seconds == 15.0  # (10 + 20) / 2
    assert stats.median_seconds == 15.0
    # Inclusive p90 interpolates at position (n - 1) * 0.9 = 0.9: 10 + 0.9 * (20 - 10) = 19.
    assert stats.p90_seconds == pytest.approx(19.0)
    assert stats.max_seconds == 20.0
    assert stats.within_sla_percentage == 50.0  # only 10 <= 15


def test_reply_stats_ten_values() -> None:
    values = [70, 10, 100, 40, 20, 90, 30, 60, 50, 80]  # 10..100 shuffled
    stats, _ = reply_stats([run(v) for v in values], sla_seconds=300)
    assert stats.mean_seconds == 55.0  # 550 / 10
    assert stats.median_seconds == 55.0  # (50 + 60) / 2
    # Position (10 - 1) * 0.9 = 8.1 in the sorted list: 90 + 0.1 * (100 - 90) = 91.
    assert stats.p90_seconds == pytest.approx(91.0)
    assert stats.max_seconds == 100.0


def test_sla_boundary_is_inclusive_and_unanswered_are_not_replies() -> None:
    runs = [run(300), run(300.5), run(10), run(None), run(None)]
    stats, reasons = reply_stats(runs, sla_seconds=300)
    assert stats.count == 3
    assert stats.unanswered == 2
    # 300 (== SLA) and 10 are within; 300.5 is not: 2 / 3 * 100.
    assert stats.within_sla_percentage == pytest.approx(200 / 3)
    assert stats.sla_seconds == 300.0
    assert reasons == {}


def test_reply_stats_without_replies_are_null_with_reasons() -> None:
    stats, reasons = reply_stats([run(None)], sla_seconds=300)
    assert stats.count == 0 and stats.unanswered == 1
    assert stats.mean_seconds is None and stats.p90_seconds is None
    assert stats.within_sla_percentage is None
    assert reasons == {
        "mean_seconds": "no_replies",
        "median_seconds": "no_replies",
        "p90_seconds": "no_replies",
        "max_seconds": "no_replies",
        "within_sla_percentage": "no_replies",
    }
    empty, empty_reasons = reply_stats([], sla_seconds=300)
    assert (empty.count, empty.unanswered, empty.median_seconds) == (0, 0, None)
    assert empty_reasons == reasons


# --------------------------------------------------------------------------- windows


def test_resolve_window_defaults_to_30_days_ending_now() -> None:
    now = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    window = resolve_window(None, None, now)
    assert window == Window(start=now - timedelta(days=30), end=now)
    # Only a start: end is now. Only an end: start is 30 days before it.
    assert resolve_window(at(0), None, now) == Window(start=at(0), end=now)
    assert resolve_window(None, at(0), now).start == at(0) - timedelta(days=30)
    assert resolve_window(None, None, now, default_days=7).start == now - timedelta(days=7)


def test_resolve_window_reads_naive_as_utc_and_normalises_offsets() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    window = resolve_window(
        datetime(2026, 2, 1, 0, 0),  # naive: UTC
        datetime(2026, 2, 2, 2, 0, tzinfo=timezone(timedelta(hours=2))),  # 00:00 UTC
        now,
    )
    assert window.start == datetime(2026, 2, 1, tzinfo=UTC)
    assert window.end == datetime(2026, 2, 2, tzinfo=UTC)
    assert window.end.tzinfo is UTC


@pytest.mark.parametrize("end_offset", [0, -1])
def test_resolve_window_rejects_start_not_before_end(end_offset: int) -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="must be before end"):
        resolve_window(at(0), at(end_offset), now)
    with pytest.raises(ValueError):
        Window(start=at(0), end=at(end_offset))


def test_previous_window_and_half_open_membership() -> None:
    window = Window(start=at(3600), end=at(7200))
    assert window.previous() == Window(start=at(0), end=at(3600))
    assert window.length == timedelta(hours=1)
    assert window.contains(at(3600))  # start included
    assert not window.contains(at(7200))  # end excluded
    assert window.previous().contains(at(3599))


def test_sessions_and_runs_belong_to_window_by_their_start() -> None:
    sessions, runs = chat_analysis("chat", conversation(), GAP, SILENCE)
    # Window [100 s, 5000 s): session "a" starts at 0 (out), "i" at 4000 (in), "j" at 6000.
    window = Window(start=at(100), end=at(5000))
    assert [s.first_message_id for s in sessions_in_window(sessions, window)] == ["i"]
    # Runs start at 0, 100, 1000, 6000 -> "d" and "h".
    assert [r.first_inbound_message_id for r in runs_in_window(runs, window)] == ["d", "h"]


# --------------------------------------------------------------------------- buckets


def utc_hours_between(a: datetime, b: datetime) -> float:
    return (b.astimezone(UTC) - a.astimezone(UTC)).total_seconds() / 3600


def test_day_buckets_spring_forward_berlin_has_a_23_hour_day() -> None:
    # 2026-03-29: clocks jump 02:00 CET -> 03:00 CEST.
    window = Window(
        start=datetime(2026, 3, 28, 0, 0, tzinfo=BERLIN), end=datetime(2026, 3, 31, tzinfo=BERLIN)
    )
    starts = bucket_starts(window, BERLIN, "day")
    assert [s.isoformat() for s in starts] == [
        "2026-03-28T00:00:00+01:00",
        "2026-03-29T00:00:00+01:00",
        "2026-03-30T00:00:00+02:00",
    ]
    assert utc_hours_between(starts[0], starts[1]) == 24
    assert utc_hours_between(starts[1], starts[2]) == 23
    # 2026-03-29 23:30 CEST is 21:30 UTC: still the 29th locally.
    assert bucket_index(datetime(2026, 3, 29, 21, 30, tzinfo=UTC), starts) == 1


def test_day_buckets_fall_back_berlin_has_a_25_hour_day() -> None:
    # 2026-10-25: clocks go back 03:00 CEST -> 02:00 CET.
    window = Window(
        start=datetime(2026, 10, 25, 0, 0, tzinfo=BERLIN), end=datetime(2026, 10, 27, tzinfo=BERLIN)
    )
    starts = bucket_starts(window, BERLIN, "day")
    assert [s.isoformat() for s in starts] == [
        "2026-10-25T00:00:00+02:00",
        "2026-10-26T00:00:00+01:00",
    ]
    assert utc_hours_between(starts[0], starts[1]) == 25
    # 2026-10-25 22:59 UTC is 23:59 CET on the 25th: bucket 0; 23:00 UTC is the 26th.
    assert bucket_index(datetime(2026, 10, 25, 22, 59, tzinfo=UTC), starts) == 0
    assert bucket_index(datetime(2026, 10, 25, 23, 0, tzinfo=UTC), starts) == 1
    assert bucket_index(datetime(2026, 10, 24, 21, 59, tzinfo=UTC), starts) is None


def test_hour_buckets_skip_the_missing_hour_in_spring() -> None:
    # 00:00-03:00 UTC on 2026-03-29 is 01:00 CET, then 03:00 CEST onwards: no 02:00.
    window = Window(
        start=datetime(2026, 3, 29, 0, tzinfo=UTC), end=datetime(2026, 3, 29, 3, tzinfo=UTC)
    )
    starts = bucket_starts(window, BERLIN, "hour")
    assert [s.isoformat() for s in starts] == [
        "2026-03-29T01:00:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T04:00:00+02:00",
    ]
    assert [utc_hours_between(a, b) for a, b in pairwise(starts)] == [1, 1]


def test_hour_buckets_repeat_the_doubled_hour_in_autumn() -> None:
    # 2026-10-24 23:00 UTC .. 2026-10-25 03:00 UTC: 01:00 CEST, 02:00 CEST, 02:00 CET, 03:00 CET.
    window = Window(
        start=datetime(2026, 10, 24, 23, tzinfo=UTC), end=datetime(2026, 10, 25, 3, tzinfo=UTC)
    )
    starts = bucket_starts(window, BERLIN, "hour")
    assert [s.isoformat() for s in starts] == [
        "2026-10-25T01:00:00+02:00",
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]
    # 01:30 UTC is the second 02:30 (CET): bucket 2, not bucket 1.
    assert bucket_index(datetime(2026, 10, 25, 1, 30, tzinfo=UTC), starts) == 2
    start = bucket_start(datetime(2026, 10, 25, 1, 30, tzinfo=UTC), BERLIN, "hour")
    assert start.isoformat() == "2026-10-25T02:00:00+01:00"


def test_hour_buckets_in_a_half_hour_offset_zone() -> None:
    # Asia/Kolkata is UTC+05:30: local hours start at :30 UTC. The window starts at
    # 00:00 UTC = 05:30 local, inside the 05:00 bucket, which overlaps and is included.
    kolkata = ZoneInfo("Asia/Kolkata")
    window = Window(
        start=datetime(2026, 1, 1, 0, tzinfo=UTC), end=datetime(2026, 1, 1, 1, tzinfo=UTC)
    )
    starts = bucket_starts(window, kolkata, "hour")
    assert [s.astimezone(UTC).strftime("%H:%M") for s in starts] == ["23:30", "00:30"]


def test_week_buckets_start_monday_local_midnight() -> None:
    # Wednesday 2026-03-25 .. Friday 2026-04-10 (Berlin): Mondays 03-23, 03-30, 04-06.
    window = Window(
        start=datetime(2026, 3, 25, 15, tzinfo=BERLIN), end=datetime(2026, 4, 10, tzinfo=BERLIN)
    )
    starts = bucket_starts(window, BERLIN, "week")
    assert [s.isoformat() for s in starts] == [
        "2026-03-23T00:00:00+01:00",
        "2026-03-30T00:00:00+02:00",
        "2026-04-06T00:00:00+02:00",
    ]
    assert all(s.weekday() == 0 for s in starts)
    # The week holding the spring change is one hour short: 7 * 24 - 1 = 167 h.
    assert utc_hours_between(starts[0], starts[1]) == 167


def test_buckets_are_those_overlapping_the_half_open_window() -> None:
    # [2026-01-05 10:00, 2026-01-07 00:00) UTC: day buckets 5th and 6th; the 7th starts
    # exactly at the (excluded) end so it does not overlap.
    window = Window(
        start=datetime(2026, 1, 5, 10, tzinfo=UTC), end=datetime(2026, 1, 7, tzinfo=UTC)
    )
    starts = bucket_starts(window, ZoneInfo("UTC"), "day")
    assert [s.date().isoformat() for s in starts] == ["2026-01-05", "2026-01-06"]


def test_a_midnight_that_does_not_exist_starts_the_day_at_1am() -> None:
    # America/Santiago jumps 00:00 -04 -> 01:00 -03 on 2026-09-06.
    santiago = ZoneInfo("America/Santiago")
    window = Window(
        start=datetime(2026, 9, 5, 12, tzinfo=UTC), end=datetime(2026, 9, 7, 12, tzinfo=UTC)
    )
    assert [s.isoformat() for s in bucket_starts(window, santiago, "day")] == [
        "2026-09-05T00:00:00-04:00",
        "2026-09-06T01:00:00-03:00",
        "2026-09-07T00:00:00-03:00",
    ]


# --------------------------------------------------------------------------- sentiment trend


def test_sentiment_trend_by_berlin_day_with_empty_bucket() -> None:
    window = Window(
        start=datetime(2026, 10, 24, tzinfo=BERLIN), end=datetime(2026, 10, 27, tzinfo=BERLIN)
    )
    samples = [
        (window.start, 0.2),  # at the start: included, 24th
        (datetime(2026, 10, 24, 21, 59, tzinfo=UTC), 0.6),  # 23:59 CEST on the 24th
        (datetime(2026, 10, 24, 22, 0, tzinfo=UTC), 1.0),  # 00:00 CEST on the 25th
        # the 26th has nothing
        (window.end, 0.0),  # at the end: excluded
        (window.start - timedelta(seconds=1), 0.0),  # before the window: excluded
    ]
    trend = sentiment_trend(samples, window, BERLIN, "day")
    assert [p.date.isoformat() for p in trend] == [
        "2026-10-24T00:00:00+02:00",
        "2026-10-25T00:00:00+02:00",
        "2026-10-26T00:00:00+01:00",
    ]
    # 24th: (0.2 + 0.6) / 2 = 0.4 over 2; 25th: 1.0 over 1; 26th: null over 0.
    assert [p.message_count for p in trend] == [2, 1, 0]
    assert trend[0].sentiment_score == pytest.approx(0.4)
    assert trend[1].sentiment_score == 1.0
    assert trend[2].sentiment_score is None


def test_sentiment_trend_partial_first_bucket_counts_only_window_part() -> None:
    # Window starts at 12:00 UTC; a sample at 06:00 the same day is in the first bucket's
    # span but not in the window.
    window = Window(
        start=datetime(2026, 1, 5, 12, tzinfo=UTC), end=datetime(2026, 1, 6, 12, tzinfo=UTC)
    )
    samples = [
        (datetime(2026, 1, 5, 6, tzinfo=UTC), 0.0),
        (datetime(2026, 1, 5, 13, tzinfo=UTC), 0.9),
    ]
    trend = sentiment_trend(samples, window, ZoneInfo("UTC"), "day")
    assert [(p.message_count, p.sentiment_score) for p in trend] == [(1, 0.9), (0, None)]


# --------------------------------------------------------------------------- aggregates


def session(
    duration: float,
    *,
    topics: tuple[str, ...] = (),
    turns: int = 0,
    silence: float | None = None,
    sentiment: float | None = None,
    messages: int = 2,
) -> SessionStats:
    return SessionStats(
        chat_id="c",
        start_at=T0,
        end_at=T0 + timedelta(seconds=duration),
        first_message_id="f",
        last_message_id="l",
        message_count=messages,
        inbound_count=1,
        outbound_count=1,
        duration_seconds=duration,
        silence_seconds=0.0,
        silence_percentage=silence,
        turns=turns,
        sentiment_sum=sentiment or 0.0,
        sentiment_count=0 if sentiment is None else 1,
        sentiment_score=sentiment,
        topics=topics,
    )


def test_summarize_sessions_means_over_sessions_with_a_value() -> None:
    aggregate = summarize_sessions(
        [
            session(600, turns=2, silence=50.0, sentiment=0.9),
            session(1200, turns=5, silence=None, sentiment=None),
            session(0, turns=0, silence=None, sentiment=0.3),
        ]
    )
    assert aggregate.sessions == 3
    # (600 + 1200 + 0) / 3 = 600 s = 10 min
    assert aggregate.average_handling_time_minutes == pytest.approx(10.0)
    assert aggregate.silence_percentage == 50.0  # only one session has it
    assert aggregate.turns == pytest.approx(7 / 3)  # (2 + 5 + 0) / 3
    assert aggregate.sentiment_score == pytest.approx(0.6)  # (0.9 + 0.3) / 2
    assert aggregate.unavailable_reasons == {}


def test_summarize_sessions_nulls_have_reasons() -> None:
    empty = summarize_sessions([])
    assert empty.sessions == 0
    assert empty.average_handling_time_minutes is None and empty.turns is None
    assert empty.unavailable_reasons == {
        "average_handling_time_minutes": "no_sessions",
        "silence_percentage": "no_sessions",
        "turns": "no_sessions",
        "sentiment_score": "no_sessions",
    }
    single = summarize_sessions([session(0, silence=None, sentiment=None)])
    assert single.average_handling_time_minutes == 0.0  # a defined zero, not null
    assert single.silence_percentage is None and single.sentiment_score is None
    assert single.unavailable_reasons == {
        "silence_percentage": "no_defined_silence",
        "sentiment_score": "no_inbound_text",
    }


def test_topic_rows_volume_share_trend_and_order() -> None:
    current = [
        session(600, topics=("a", "b"), turns=2),
        session(1200, topics=("a",), turns=4),
        session(60, topics=("c",)),
        session(60),
    ]
    previous = [session(10, topics=("a",)), session(10, topics=("d",))]
    rows = topic_rows(current, previous, {"a": "Alpha", "b": "Beta"})
    # a: 2 of 4 sessions; b and c tie at 1 and sort by id; d has no current volume.
    assert [(r.topic, r.label, r.volume) for r in rows] == [
        ("a", "Alpha", 2),
        ("b", "Beta", 1),
        ("c", "c", 1),  # unknown label falls back to the id
    ]
    a, b, _c = rows
    assert a.percentage_of_total == 50.0  # 2 / 4 * 100
    assert b.percentage_of_total == 25.0
    assert a.previous_volume == 1
    assert a.trend == 100.0  # (2 - 1) / 1 * 100
    assert a.average_handling_time_minutes == pytest.approx(15.0)  # (600 + 1200) / 2 / 60
    assert a.turns == 3.0  # (2 + 4) / 2
    assert b.previous_volume == 0 and b.trend is None
    assert b.unavailable_reasons["trend"] == "no_previous_volume"
    assert "trend" not in a.unavailable_reasons
    assert a.unavailable_reasons == {
        "silence_percentage": "no_defined_silence",
        "sentiment_score": "no_inbound_text",
    }


def test_topic_trend_can_fall() -> None:
    rows = topic_rows(
        [session(1, topics=("a",))],
        [session(1, topics=("a",)) for _ in range(4)],
        {},
    )
    assert rows[0].trend == -75.0  # (1 - 4) / 4 * 100


def test_topic_rows_of_an_empty_window() -> None:
    assert topic_rows([], [session(1, topics=("a",))], {"a": "A"}) == []


# --------------------------------------------------------------------------- overview


def test_overview_values_by_hand() -> None:
    window = Window(start=at(0), end=at(3600))
    chat_a = [
        msg("a0", -100, "inbound"),  # before the window: chat A is not new
        msg("a1", 10, "inbound"),  # -100 -> 10 is 110 s: same session as a0
        msg("a2", 20, "outbound"),
        msg("a3", 30, "unknown"),
    ]
    chat_b = [
        msg("b1", 3000, "outbound"),  # first ever message in the window: new fan
        msg("b2", 3500, "outbound"),
        msg("b3", 4000, "inbound"),  # after the window end: not counted as a message
    ]
    chat_c = [msg("c1", -10_000, "inbound")]  # nothing in the window
    values = overview_values([("A", chat_a), ("B", chat_b), ("C", chat_c), ("D", [])], window, GAP)
    # Messages in [0, 3600): a1, a2, a3, b1, b2 = 5; inbound a1; outbound a2, b1, b2.
    assert (values.messages, values.inbound_messages, values.outbound_messages) == (5, 1, 3)
    # Active fans: chats with an inbound message in the window: A only.
    assert values.active_fans == 1
    # New fans: chats whose first message is in the window: B only.
    assert values.new_fans == 1
    # Sessions by first message: A's single session starts at -100 (outside);
    # B's session b1..b3 (gaps 500 s) starts at 3000 (inside) -> 1 session of 3 messages.
    assert values.sessions == 1
    assert values.average_messages_per_session == 3.0
    assert values.unavailable_reasons == {}


def test_overview_of_an_empty_window_has_reasons() -> None:
    values = overview_values([("A", [msg("x", 0)])], Window(start=at(10), end=at(20)), GAP)
    assert (values.sessions, values.messages, values.active_fans, values.new_fans) == (0, 0, 0, 0)
    assert values.average_messages_per_session is None
    assert values.unavailable_reasons == {"average_messages_per_session": "no_sessions"}


def test_bucket_locator_agrees_with_bucket_index_and_bucket_start() -> None:
    window = Window(start=datetime(2026, 10, 20, tzinfo=UTC), end=datetime(2026, 11, 3, tzinfo=UTC))
    for granularity in ("hour", "day", "week"):
        starts = bucket_starts(window, BERLIN, granularity)
        locate = bucket_locator(starts)
        instant = window.start
        while instant < window.end:
            index = locate(instant)
            assert index == bucket_index(instant, starts)
            assert index is not None
            # isoformat: same-tzinfo datetimes compare by wall time, ignoring the offset.
            assert (
                starts[index].isoformat() == bucket_start(instant, BERLIN, granularity).isoformat()
            )
            instant += timedelta(minutes=37)


def test_a_local_date_skipped_whole_has_no_bucket() -> None:
    # Samoa skipped 2011-12-30 (23:59:59 -10:00 on the 29th was followed by 00:00 +14:00
    # on the 31st): the 30th has no bucket rather than a zero-length one.
    apia = ZoneInfo("Pacific/Apia")
    window = Window(
        start=datetime(2011, 12, 29, 12, tzinfo=UTC), end=datetime(2012, 1, 1, tzinfo=UTC)
    )
    assert [s.isoformat() for s in bucket_starts(window, apia, "day")] == [
        "2011-12-29T00:00:00-10:00",
        "2011-12-31T00:00:00+14:00",
        "2012-01-01T00:00:00+14:00",
    ]
