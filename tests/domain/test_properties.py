"""Invariants of sessions and replies on random chats built with polyfactory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from polyfactory import Use
from polyfactory.factories.msgspec_factory import MsgspecFactory

from ofca.domain.aggregates import (
    overview_values,
)
from ofca.domain.metrics import (
    MessagePoint,
    Window,
    chat_analysis,
    order_key,
    sessions_in_window,
)

T0 = datetime(2026, 1, 5, tzinfo=UTC)
GAP = timedelta(minutes=30)
SILENCE = timedelta(seconds=120)
TOPICS = ("greeting", "tips_gifts", "pricing_ppv")


class MessagePointFactory(MsgspecFactory[MessagePoint]):
    """Messages over six hours, so chats have several sessions and some time ties."""

    __check_model__ = False

    created_at = Use(lambda: T0 + timedelta(minutes=MessagePointFactory.__random__.randint(0, 360)))
    sentiment = Use(
        lambda: (
            None
            if MessagePointFactory.__random__.random() < 0.3
            else MessagePointFactory.__random__.random()
        )
    )
    topics = Use(
        lambda: tuple(
            sorted(
                MessagePointFactory.__random__.sample(
                    TOPICS, MessagePointFactory.__random__.randint(0, 2)
                )
            )
        )
    )


@pytest.mark.parametrize("seed", range(25))
def test_session_and_reply_invariants(seed: int) -> None:
    MessagePointFactory.seed_random(seed)
    points = MessagePointFactory.batch(MessagePointFactory.__random__.randint(1, 60))
    sessions, runs = chat_analysis("chat", points, GAP, SILENCE)

    # Sessions partition the chat: counts add up, in order, separated by more than the gap.
    assert sum(s.message_count for s in sessions) == len(points)
    assert sum(s.inbound_count for s in sessions) == sum(p.direction == "inbound" for p in points)
    for before, after in pairwise(sessions):
        assert after.start_at - before.end_at > GAP
    for s in sessions:
        assert s.inbound_count + s.outbound_count <= s.message_count
        assert 0 <= s.turns <= s.message_count - 1
        assert 0 <= s.silence_seconds <= s.duration_seconds
        if s.silence_percentage is not None:
            assert 0 <= s.silence_percentage <= 100
        else:
            assert s.duration_seconds == 0
        if s.sentiment_score is not None:
            assert 0 <= s.sentiment_score <= 1
            assert s.sentiment_count <= s.inbound_count
        assert set(s.topics) <= set(TOPICS)

    # Replies: one run per maximal inbound run (unknown skipped), only the last may be
    # unanswered, and waits are never negative.
    known = [p.direction for p in sorted(points, key=order_key) if p.direction != "unknown"]
    inbound_runs = sum(
        1 for i, d in enumerate(known) if d == "inbound" and (i == 0 or known[i - 1] != "inbound")
    )
    assert len(runs) == inbound_runs
    assert all(r.reply_seconds is not None for r in runs[:-1])
    assert all(r.reply_seconds >= 0 for r in runs if r.reply_seconds is not None)
    if runs:
        assert (runs[-1].reply_seconds is None) == (known[-1] == "inbound")

    # The overview oracle agrees with the session split for a window covering the chat.
    window = Window(start=T0, end=T0 + timedelta(days=1))
    overview = overview_values([("chat", points)], window, GAP)
    assert overview.sessions == len(sessions_in_window(sessions, window)) == len(sessions)
    assert overview.messages == len(points)
    assert overview.average_messages_per_session == pytest.approx(len(points) / len(sessions))
