"""``GET /api/v1/insights/*``: topics, sentiment trend, response time and overview for one
account and window (definitions: ../shared/METRICS.md, docs/metrics.md).

Parameters are taken as text and checked here so every bad value is a 422 that says what
is wrong (Litestar's own parsing would answer 400 with a generic message).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from ofca.access.principals import scope_account
from ofca.domain.auth import Principal
from ofca.domain.insights import (
    MAX_BUCKETS,
    InsightParameterError,
    OverviewResponse,
    ResponseTimeResponse,
    SentimentTrendResponse,
    TopicsResponse,
    parse_granularity,
    parse_timezone,
    parse_window,
)
from ofca.domain.metrics import Granularity, Window
from ofca.errors import field_error
from ofca.insights import queries as service
from ofca.insights.queries import InsightFilters
from ofca.settings import Settings

__all__ = ["InsightsController"]

AccountParam = Annotated[
    str | None,
    Parameter(
        query="account_id",
        description="The account; required when the credential is not bound to one account.",
    ),
]
StartParam = Annotated[
    str | None,
    Parameter(description="Window start, ISO 8601 with offset (naive = UTC); default end - 30d."),
]
EndParam = Annotated[
    str | None,
    Parameter(description="Window end (exclusive), ISO 8601 with offset; default now."),
]
TimezoneParam = Annotated[
    str | None, Parameter(description="IANA zone for bucket boundaries (default UTC).")
]
GranularityParam = Annotated[
    str | None, Parameter(description="Trend bucket: hour, day (default) or week.")
]
TopicParam = Annotated[str | None, Parameter(description="Keep the sessions having this topic.")]
ChatParam = Annotated[str | None, Parameter(description="Keep this chat only.")]


def _window(start: str | None, end: str | None, settings: Settings) -> Window:
    try:
        return parse_window(start, end, datetime.now(UTC), settings.default_window_days)
    except InsightParameterError as exc:
        raise field_error(exc.name, str(exc), "query") from None


def _zone_and_granularity(timezone: str | None, granularity: str | None) -> tuple[str, Granularity]:
    """Validated on every endpoint (a typo is a 422 everywhere), used by the trend."""
    try:
        zone_name, _zone = parse_timezone(timezone)
        return zone_name, parse_granularity(granularity)
    except InsightParameterError as exc:
        raise field_error(exc.name, str(exc), "query") from None


def _filters(topic: str | None, chat_id: str | None) -> InsightFilters:
    return InsightFilters(topic=topic or None, chat_id=chat_id or None)


class InsightsController(Controller):
    path = "/api/v1/insights"
    tags = ["insights"]

    @get("/topics", summary="Topic volumes, share, trend and session means")
    async def topics(
        self,
        principal: Principal,
        settings: Settings,
        account_id: AccountParam = None,
        start: StartParam = None,
        end: EndParam = None,
        timezone: TimezoneParam = None,
        granularity: GranularityParam = None,
        topic: TopicParam = None,
        chat_id: ChatParam = None,
    ) -> TopicsResponse:
        account = scope_account(principal, account_id, "read")
        window = _window(start, end, settings)
        _zone_and_granularity(timezone, granularity)
        return await service.topics(account, window, _filters(topic, chat_id))

    @get("/sentiment-trend", summary="Mean fan sentiment per time bucket")
    async def sentiment_trend(
        self,
        principal: Principal,
        settings: Settings,
        account_id: AccountParam = None,
        start: StartParam = None,
        end: EndParam = None,
        timezone: TimezoneParam = None,
        granularity: GranularityParam = None,
        topic: TopicParam = None,
        chat_id: ChatParam = None,
    ) -> SentimentTrendResponse:
        account = scope_account(principal, account_id, "read")
        window = _window(start, end, settings)
        zone_name, bucket = _zone_and_granularity(timezone, granularity)
        # Refuse absurd bucket counts (hourly over years) before computing any bucket; a
        # bucket lasts at least 23 hours (day), 167 (week) or one hour, DST included.
        shortest = {"hour": 3600, "day": 23 * 3600, "week": 167 * 3600}[bucket]
        if window.length.total_seconds() / shortest > MAX_BUCKETS:
            raise field_error("granularity", _too_many(), "query")
        return await service.sentiment_trend(
            account, window, zone_name, bucket, _filters(topic, chat_id)
        )

    @get("/response-time", summary="Handling time, silence, turns and fan wait time")
    async def response_time(
        self,
        principal: Principal,
        settings: Settings,
        account_id: AccountParam = None,
        start: StartParam = None,
        end: EndParam = None,
        timezone: TimezoneParam = None,
        granularity: GranularityParam = None,
        topic: TopicParam = None,
        chat_id: ChatParam = None,
    ) -> ResponseTimeResponse:
        account = scope_account(principal, account_id, "read")
        window = _window(start, end, settings)
        _zone_and_granularity(timezone, granularity)
        return await service.response_time(account, window, settings, _filters(topic, chat_id))

    @get("/overview", summary="Headline counts for the window and the previous window")
    async def overview(
        self,
        principal: Principal,
        settings: Settings,
        account_id: AccountParam = None,
        start: StartParam = None,
        end: EndParam = None,
        timezone: TimezoneParam = None,
        granularity: GranularityParam = None,
    ) -> OverviewResponse:
        account = scope_account(principal, account_id, "read")
        window = _window(start, end, settings)
        _zone_and_granularity(timezone, granularity)
        return await service.overview(account, window)


def _too_many() -> str:
    return f"too many buckets (more than {MAX_BUCKETS}): choose a coarser granularity"
