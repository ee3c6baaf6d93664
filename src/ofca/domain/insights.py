"""Response shapes of the insights API, shared by REST and the live ``analytics_update``.

The numbers come from ``ofca.domain.metrics`` (definitions in ../shared/METRICS.md); this
module only gives them their public envelope. Field names are the public contract.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from ofca.domain.metrics import Granularity, ReplyStats, TopicRow, TrendPoint

__all__ = [
    "AnalyticsSnapshot",
    "OverviewResponse",
    "OverviewWindowValues",
    "ResponseTimeResponse",
    "SentimentTrendResponse",
    "TopicListResponse",
    "TopicView",
    "TopicsResponse",
    "WindowView",
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


class AnalyticsSnapshot(msgspec.Struct, kw_only=True):
    """Every insight for one window: the payload of ``analytics_update``."""

    topics: TopicsResponse
    sentiment_trend: SentimentTrendResponse
    response_time: ResponseTimeResponse
    overview: OverviewResponse
    computed_at: datetime
