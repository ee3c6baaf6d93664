"""The inbox's default order (``ofca.domain.triage``) and the full sync's choice of chats:
the chats a chatter sees first are the ones a full sync sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ofca.conversations import full_sync
from ofca.domain.triage import Triage, triage_key

NOW = datetime.now(UTC)
DAY = Triage(horizon_seconds=86_400.0, sla_seconds=300.0)


def _ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


# chat id -> (waiting since, last activity), seconds ago; None: not waiting.
CHATS: dict[str, tuple[float | None, float]] = {
    "fresh": (21, 21),  # wrote 21 s ago: within the SLA
    "about-to-miss": (280, 280),  # 4 min 40 s: within the SLA, closest to missing it
    "just-late": (400, 400),  # past the SLA, freshest of the late ones
    "late": (3 * 3600, 3 * 3600),
    "stale": (85 * 86_400, 85 * 86_400),  # waiting for 85 days: beyond the horizon
    "answered-now": (None, 5),
    "answered-long-ago": (None, 40 * 86_400),
}


def _rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    chats = [{"chat_id": chat_id} for chat_id in CHATS]
    stats = [{"chat_id": chat_id, "last_at": _ago(last)} for chat_id, (_, last) in CHATS.items()]
    waiting = [
        {"chat_id": chat_id, "first_inbound_at": _ago(since)}
        for chat_id, (since, _) in CHATS.items()
        if since is not None
    ]
    return chats, stats, waiting


def test_full_sync_order_is_the_inbox_triage_order() -> None:
    assert full_sync._prioritized(*_rows(), DAY, now=NOW) == [
        "about-to-miss",
        "fresh",
        "just-late",
        "late",
        "answered-now",
        "answered-long-ago",
        "stale",  # the stale wait goes by its last activity, with the answered chats
    ]


def test_without_a_horizon_every_wait_is_triaged() -> None:
    everything = Triage(horizon_seconds=None, sla_seconds=300.0)
    assert full_sync._prioritized(*_rows(), everything, now=NOW)[:5] == [
        "about-to-miss",
        "fresh",
        "just-late",
        "late",
        "stale",
    ]


def test_the_full_sync_keeps_the_first_chats_of_that_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(full_sync, "FULL_SYNC_CONVERSATIONS", 3)
    assert full_sync._prioritized(*_rows(), DAY, now=NOW) == ["about-to-miss", "fresh", "just-late"]


def test_the_sla_edge_and_a_wait_in_the_future() -> None:
    at_sla = triage_key("a", _ago(300), _ago(300), NOW, DAY)
    past_sla = triage_key("b", _ago(301), _ago(301), NOW, DAY)
    assert at_sla[:2] == (0, 0) and past_sla[:2] == (0, 1)  # exactly the SLA is within it
    skewed = triage_key("c", NOW + timedelta(seconds=30), NOW, NOW, DAY)
    assert skewed == (0, 0, -0.0, "c")  # a clock ahead of ours waits 0 s, not less
    at_horizon = triage_key("d", _ago(86_400), _ago(86_400), NOW, DAY)
    assert at_horizon[0] == 0
