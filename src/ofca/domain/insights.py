"""Response shapes of the insights API, shared by REST and the live ``analytics_update``.

The numbers come from ``ofca.domain.metrics`` (definitions in docs/metrics.md); this
module only gives them their public envelope. Field names are the public contract.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from ofca.domain.aggregates import (
    ReplyStats,
    TopicRow,
    TrendPoint,
)
from ofca.domain.metrics import (
    Granularity,
    Window,
    resolve_window,
)
from ofca.domain.money import ChatterRow, FanRow, RevenueTrendPoint, RevenueValues

__all__ = [
    "GRANULARITIES",
    "MAX_BUCKETS",
    "MAX_TIME_RANGE_DAYS",
    "AnalyticsSnapshot",
    "ChattersResponse",
    "FansResponse",
    "InsightParameterError",
    "OverviewResponse",
    "OverviewWindowValues",
    "ResponseTimeResponse",
    "RevenueResponse",
    "SentimentTrendResponse",
    "TopicListResponse",
    "TopicView",
    "TopicsResponse",
    "WindowView",
    "parse_granularity",
    "parse_instant",
    "parse_request_window",
    "parse_time_range",
    "parse_timezone",
    "parse_window",
]


class TopicView(msgspec.Struct, kw_only=True):
    """A topic rule as the topics API lists it."""

    id: str
    label: str
    keywords: list[str]
    builtin: bool
    updated_at: datetime | None = None
    """Last change of a custom topic; None for built-in ones."""


class TopicListResponse(msgspec.Struct, kw_only=True):
    topics: list[TopicView]


class WindowView(msgspec.Struct, frozen=True, kw_only=True):
    """A half-open window ``[start, end)``."""

    start: datetime
    end: datetime


class TopicsResponse(msgspec.Struct, kw_only=True):
    topics: list[TopicRow]
    window: WindowView
    previous_window: WindowView


class SentimentTrendResponse(msgspec.Struct, kw_only=True):
    trend: list[TrendPoint]
    granularity: Granularity
    timezone: str
    window: WindowView


class ResponseTimeResponse(msgspec.Struct, kw_only=True):
    average_handling_time_minutes: float | None
    silence_percentage: float | None
    turns: float | None
    sessions: int
    reply_time: ReplyStats
    unavailable_reasons: dict[str, str]
    window: WindowView


class OverviewWindowValues(msgspec.Struct, kw_only=True):
    sessions: int
    messages: int
    inbound_messages: int
    outbound_messages: int
    active_fans: int
    new_fans: int
    average_messages_per_session: float | None
    excluded_messages: int = 0
    unavailable_reasons: dict[str, str] = {}


class OverviewResponse(msgspec.Struct, kw_only=True):
    current: OverviewWindowValues
    previous: OverviewWindowValues
    window: WindowView
    previous_window: WindowView


class RevenueResponse(msgspec.Struct, kw_only=True):
    """``GET /api/v1/insights/revenue`` (docs/metrics.md, "Revenue")."""

    current: RevenueValues
    previous: RevenueValues
    trend: list[RevenueTrendPoint]
    window: WindowView
    previous_window: WindowView
    granularity: Granularity
    timezone: str


class FansResponse(msgspec.Struct, kw_only=True):
    """``GET /api/v1/insights/fans`` (docs/metrics.md, "Fans")."""

    fans: list[FanRow]
    spend_waiting: float
    fans_waiting: int
    as_of: datetime
    window: WindowView


class ChattersResponse(msgspec.Struct, kw_only=True):
    """``GET /api/v1/insights/chatters`` (docs/metrics.md, "Chatters")."""

    chatters: list[ChatterRow]
    window: WindowView


class AnalyticsSnapshot(msgspec.Struct, kw_only=True):
    """Every insight for one window: the payload of ``analytics_update``."""

    topics: TopicsResponse
    sentiment_trend: SentimentTrendResponse
    response_time: ResponseTimeResponse
    overview: OverviewResponse
    computed_at: datetime
    revenue: RevenueValues | None = None
    """The window's revenue summary (docs/metrics.md, "Revenue"); None only from a
    server that does not compute it."""


# --------------------------------------------------------------------------- query parameters

GRANULARITIES: tuple[Granularity, ...] = ("hour", "day", "week")
MAX_BUCKETS = 10_000
"""More trend buckets than this in one response is refused (e.g. hourly over years)."""


class InsightParameterError(ValueError):
    """A bad query parameter; ``name`` is the parameter, the message says what is wrong."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def parse_instant(name: str, value: str | None) -> datetime | None:
    """An aware UTC instant from ISO 8601 (``Z`` or an offset; naive means UTC)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text[-1:] in ("z", "Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InsightParameterError(
            name,
            f"{name} must be an ISO 8601 date-time such as 2026-03-01T00:00:00+02:00, "
            f"not {value!r}",
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_timezone(value: str | None) -> tuple[str, ZoneInfo]:
    """The IANA zone named ``value`` (default UTC)."""
    name = (value or "UTC").strip() or "UTC"
    try:
        return name, ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InsightParameterError(
            "timezone",
            f"timezone must be an IANA time zone name such as Europe/Berlin, not {value!r}",
        ) from None


def parse_granularity(value: str | None) -> Granularity:
    if value is None or not value.strip():
        return "day"
    text = value.strip().lower()
    for granularity in GRANULARITIES:
        if text == granularity:
            return granularity
    raise InsightParameterError(
        "granularity", f"granularity must be one of hour, day, week, not {value!r}"
    )


def parse_window(start: str | None, end: str | None, now: datetime, default_days: int) -> Window:
    """The requested half-open window; docs/metrics.md defaults (the 30 days ending now)."""
    try:
        return resolve_window(
            parse_instant("start", start), parse_instant("end", end), now, default_days
        )
    except InsightParameterError:
        raise
    except ValueError as exc:
        raise InsightParameterError("start", f"the window is empty: {exc}") from None


MAX_TIME_RANGE_DAYS = 366
"""The longest ``time_range`` (``366d``): a year, leap day included. Longer windows are
asked for with ``start``/``end``."""

_TIME_RANGE = re.compile(r"^([0-9]{1,6})d$")


def parse_time_range(value: str | None) -> timedelta | None:
    """``time_range`` (seed 003's dashboards): ``Nd`` = the N days ending now, 1 <= N <=
    :data:`MAX_TIME_RANGE_DAYS` (``7d``, ``30d``, ``90d``, ...); None when absent."""
    if value is None or not value.strip():
        return None
    match = _TIME_RANGE.match(value.strip().lower())
    days = int(match.group(1)) if match else 0
    if not 1 <= days <= MAX_TIME_RANGE_DAYS:
        raise InsightParameterError(
            "time_range",
            f"time_range must be a number of days from 1d to {MAX_TIME_RANGE_DAYS}d such as "
            f"7d, 30d or 90d, not {value!r}",
        )
    return timedelta(days=days)


def parse_request_window(
    start: str | None,
    end: str | None,
    time_range: str | None,
    now: datetime,
    default_days: int,
) -> Window:
    """The window of a request: ``time_range`` (``[now - N days, now)``) or ``start``/``end``
    (``parse_window``); both at once is an error naming ``time_range``."""
    span = parse_time_range(time_range)
    if span is None:
        return parse_window(start, end, now, default_days)
    if (start is not None and start.strip()) or (end is not None and end.strip()):
        raise InsightParameterError(
            "time_range", "time_range cannot be combined with start or end: send one or the other"
        )
    return Window(start=now - span, end=now)
