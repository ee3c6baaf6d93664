"""The inbox's default order (triage), shared by the full sync's choice of chats and the docs.

A chatter answers the fans who wrote recently before those who wrote months ago:

1. **Waiting now**: fans whose unanswered run started within the triage horizon
   (``OFCA_TRIAGE_HORIZON_HOURS``, 0 = no horizon), ranked by their wait against the reply
   SLA (``OFCA_REPLY_SLA_SECONDS``): first those still within the SLA, the longest wait
   first (answering them now keeps them within it), then those past it, the freshest
   first (the most likely to still be there).
2. **Everything else** by last activity, newest first: answered chats and the stale waits
   (older than the horizon), which the dashboard shows in their own collapsed group.

Ties go by chat id, so the order is total and stable. The dashboard's ``web/src/lib/triage.ts``
implements the same rule (docs/metrics.md, "Inbox order (triage)").
"""

from __future__ import annotations

from datetime import datetime

import msgspec

__all__ = ["DEFAULT_TRIAGE", "Triage", "TriageKey", "triage_key"]

TriageKey = tuple[int, int, float, str]


class Triage(msgspec.Struct, frozen=True, kw_only=True):
    horizon_seconds: float | None
    """Waits that started longer ago than this are stale; ``None``: none is."""
    sla_seconds: float
    whale_spend: float = 100.0
    """A fan whose lifetime spend reaches this is a ``whale`` (the inbox's tier,
    docs/metrics.md "Fans")."""


DEFAULT_TRIAGE = Triage(horizon_seconds=24 * 3600.0, sla_seconds=300.0)


def triage_key(
    chat_id: str,
    waiting_since: datetime | None,
    last_activity: datetime | None,
    now: datetime,
    triage: Triage,
) -> TriageKey:
    """Sort key of one chat at ``now``: smaller comes first."""
    if waiting_since is not None:
        wait = max(0.0, (now - waiting_since).total_seconds())
        if triage.horizon_seconds is None or wait <= triage.horizon_seconds:
            if wait <= triage.sla_seconds:
                return (0, 0, -wait, chat_id)
            return (0, 1, wait, chat_id)
    last = last_activity.timestamp() if last_activity is not None else float("-inf")
    return (1, 0, -last, chat_id)
