"""Query parameters shared by the insights-style endpoints: the window (``start``/``end``
or ``time_range``), ``timezone``, ``granularity`` and the ``chat_id``/``topic`` filters.

Parameters are taken as text and checked here, so every bad value is a 422 that names the
parameter and says what is wrong (Litestar's own parsing would answer 400 with a generic
message). Any endpoint with a window uses :func:`request_window`, so ``time_range`` means
the same everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from litestar.params import QueryParameter

from ofca.domain.insights import (
    MAX_BUCKETS,
    MAX_TIME_RANGE_DAYS,
    InsightParameterError,
    parse_granularity,
    parse_request_window,
    parse_time_range,
    parse_timezone,
)
from ofca.domain.metrics import Granularity, Window
from ofca.domain.money import TIERS, Tier
from ofca.errors import field_error
from ofca.insights.money import MoneyFilters
from ofca.insights.queries import InsightFilters
from ofca.settings import Settings

__all__ = [
    "MAX_FAN_ROWS",
    "AccountParam",
    "ChatParam",
    "ChatterParam",
    "EndParam",
    "GranularityParam",
    "LimitParam",
    "StartParam",
    "TierParam",
    "TimeRangeParam",
    "TimezoneParam",
    "TopicParam",
    "check_bucket_count",
    "fan_tier",
    "insight_filters",
    "money_filters",
    "request_window",
    "row_limit",
    "time_range_bounds",
    "zone_and_granularity",
]

MAX_FAN_ROWS = 500
"""The most rows ``/insights/fans`` returns at once."""

AccountParam = Annotated[
    str | None,
    QueryParameter(
        description="The account; required when the credential is not bound to one account.",
    ),
]
StartParam = Annotated[
    str | None,
    QueryParameter(
        description="Window start, ISO 8601 with offset (naive = UTC); default end - 30d."
    ),
]
EndParam = Annotated[
    str | None,
    QueryParameter(description="Window end (exclusive), ISO 8601 with offset; default now."),
]
TimeRangeParam = Annotated[
    str | None,
    QueryParameter(
        description=f"Shorthand for the N days ending now: 7d, 30d, 90d, ... up to "
        f"{MAX_TIME_RANGE_DAYS}d (not with start/end)."
    ),
]
TimezoneParam = Annotated[
    str | None, QueryParameter(description="IANA zone for bucket boundaries (default UTC).")
]
GranularityParam = Annotated[
    str | None, QueryParameter(description="Trend bucket: hour, day (default) or week.")
]
TopicParam = Annotated[
    str | None, QueryParameter(description="Keep the sessions having this topic.")
]
ChatParam = Annotated[str | None, QueryParameter(description="Keep this chat only.")]
ChatterParam = Annotated[
    str | None,
    QueryParameter(
        description="Keep one chatter's money and messages: user:<id>, key:<id>, ext:<id> "
        "or unassigned (docs/metrics.md, Chatters)."
    ),
]
TierParam = Annotated[
    str | None, QueryParameter(description="Keep the fans of one tier: whale, spender or free.")
]
LimitParam = Annotated[
    str | None,
    QueryParameter(description=f"At most this many rows (default 50, 1 to {MAX_FAN_ROWS})."),
]


def request_window(
    start: str | None, end: str | None, time_range: str | None, settings: Settings
) -> Window:
    """The window asked for: ``time_range`` or ``start``/``end`` (default: the
    ``OFCA_DEFAULT_WINDOW_DAYS`` ending now)."""
    try:
        return parse_request_window(
            start, end, time_range, datetime.now(UTC), settings.default_window_days
        )
    except InsightParameterError as exc:
        raise field_error(exc.name, str(exc), "query") from None


def time_range_bounds(
    time_range: str | None, start: datetime | None, end: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """``start``/``end`` of endpoints that take them as date-times (conversations, exports),
    with ``time_range`` turned into ``[now - N days, now)``."""
    try:
        span = parse_time_range(time_range)
    except InsightParameterError as exc:
        raise field_error(exc.name, str(exc), "query") from None
    if span is None:
        return start, end
    if start is not None or end is not None:
        raise field_error(
            "time_range",
            "time_range cannot be combined with start or end: send one or the other",
            "query",
        )
    now = datetime.now(UTC)
    return now - span, now


def zone_and_granularity(timezone: str | None, granularity: str | None) -> tuple[str, Granularity]:
    """Validated on every endpoint (a typo is a 422 everywhere), used by the trends."""
    try:
        zone_name, _zone = parse_timezone(timezone)
        return zone_name, parse_granularity(granularity)
    except InsightParameterError as exc:
        raise field_error(exc.name, str(exc), "query") from None


_SHORTEST_BUCKET_SECONDS = {"hour": 3600, "day": 23 * 3600, "week": 167 * 3600}
"""A bucket lasts at least this long, DST included."""


def check_bucket_count(window: Window, granularity: Granularity, parameter: str) -> None:
    """Refuse absurd bucket counts (hourly over years) before computing any bucket."""
    if window.length.total_seconds() / _SHORTEST_BUCKET_SECONDS[granularity] > MAX_BUCKETS:
        if parameter == "granularity":
            message = f"too many buckets (more than {MAX_BUCKETS}): choose a coarser granularity"
        else:
            message = (
                f"the window spans more than {MAX_BUCKETS} {granularity}s "
                f"(about {MAX_BUCKETS // 24} days): choose a shorter window"
            )
        raise field_error(parameter, message, "query")


def fan_tier(tier: str | None) -> Tier | None:
    if tier is None or not tier.strip():
        return None
    text = tier.strip().lower()
    for known in TIERS:
        if text == known:
            return known
    raise field_error("tier", f"tier must be one of whale, spender, free, not {tier!r}", "query")


def row_limit(limit: str | None, default: int = 50, most: int = MAX_FAN_ROWS) -> int:
    if limit is None or not limit.strip():
        return default
    text = limit.strip()
    if not text.isdigit() or not 1 <= int(text) <= most:
        raise field_error(
            "limit", f"limit must be a whole number from 1 to {most}, not {limit!r}", "query"
        )
    return int(text)


def money_filters(topic: str | None, chat_id: str | None, chatter: str | None) -> MoneyFilters:
    return MoneyFilters(topic=topic or None, chat_id=chat_id or None, chatter=chatter or None)


def insight_filters(topic: str | None, chat_id: str | None) -> InsightFilters:
    return InsightFilters(topic=topic or None, chat_id=chat_id or None)
