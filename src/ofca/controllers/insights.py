"""``GET /api/v1/insights/*``: topics, sentiment trend, response time and overview for one
account and window (definitions: docs/metrics.md).

Parameters are taken as text and checked in ``ofca.controllers.params`` so every bad value
is a 422 that says what is wrong (Litestar's own parsing would answer 400 with a generic
message).
"""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from ofca.access.principals import scope_account
from ofca.controllers.params import (
    AccountParam,
    ChatParam,
    EndParam,
    GranularityParam,
    StartParam,
    TimeRangeParam,
    TimezoneParam,
    TopicParam,
    check_bucket_count,
    insight_filters,
    request_window,
    zone_and_granularity,
)
from ofca.domain.auth import Principal
from ofca.domain.insights import (
    OverviewResponse,
    ResponseTimeResponse,
    SentimentTrendResponse,
    TopicsResponse,
)
from ofca.insights import queries as service
from ofca.settings import Settings

__all__ = ["InsightsController"]


class InsightsController(Controller):
    path = "/api/v1/insights"
    tags = ["insights"]

    @get("/topics", summary="Topic volumes, share, trend and session means")
    async def topics(
        self,
        principal: NamedDependency[Principal],
        settings: NamedDependency[Settings],
        account_id: AccountParam = None,
        start: StartParam = None,
        end: EndParam = None,
        time_range: TimeRangeParam = None,
        timezone: TimezoneParam = None,
        granularity: GranularityParam = None,
        topic: TopicParam = None,
        chat_id: ChatParam = None,
    ) -> TopicsResponse:
        account = scope_account(principal, account_id, "read")
        window = request_window(start, end, time_range, settings)
        zone_and_granularity(timezone, granularity)
        return await service.topics(account, window, insight_filters(topic, chat_id))

    @get("/sentiment-trend", summary="Mean fan sentiment per time bucket")
    async def sentiment_trend(
        self,
        principal: NamedDependency[Principal],
        settings: NamedDependency[Settings],
        account_id: AccountParam = None,
        start: StartParam = None,
        end: EndParam = None,
        time_range: TimeRangeParam = None,
        timezone: TimezoneParam = None,
        granularity: GranularityParam = None,
        topic: TopicParam = None,
        chat_id: ChatParam = None,
    ) -> SentimentTrendResponse:
        account = scope_account(principal, account_id, "read")
        window = request_window(start, end, time_range, settings)
        zone_name, bucket = zone_and_granularity(timezone, granularity)
        check_bucket_count(window, bucket, "granularity")
        return await service.sentiment_trend(
            account, window, zone_name, bucket, insight_filters(topic, chat_id)
        )

    @get("/response-time", summary="Handling time, silence, turns and fan wait time")
    async def response_time(
        self,
        principal: NamedDependency[Principal],
        settings: NamedDependency[Settings],
        account_id: AccountParam = None,
        start: StartParam = None,
        end: EndParam = None,
        time_range: TimeRangeParam = None,
        timezone: TimezoneParam = None,
        granularity: GranularityParam = None,
        topic: TopicParam = None,
        chat_id: ChatParam = None,
    ) -> ResponseTimeResponse:
        account = scope_account(principal, account_id, "read")
        window = request_window(start, end, time_range, settings)
        zone_and_granularity(timezone, granularity)
        return await service.response_time(
            account, window, settings, insight_filters(topic, chat_id)
        )

    @get("/overview", summary="Headline counts for the window and the previous window")
    async def overview(
        self,
        principal: NamedDependency[Principal],
        settings: NamedDependency[Settings],
        account_id: AccountParam = None,
        start: StartParam = None,
        end: EndParam = None,
        time_range: TimeRangeParam = None,
        timezone: TimezoneParam = None,
        granularity: GranularityParam = None,
    ) -> OverviewResponse:
        account = scope_account(principal, account_id, "read")
        window = request_window(start, end, time_range, settings)
        zone_and_granularity(timezone, granularity)
        return await service.overview(account, window)
