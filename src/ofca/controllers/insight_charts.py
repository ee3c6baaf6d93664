"""``GET /api/v1/insights/{reply-time-trend, volume-trend, activity-heatmap, sessions}``:
the charts over time and seed 002's session analytics (definitions: docs/metrics.md).

The same parameters as the other insights (``ofca.controllers.params``): ``start``/``end``
or ``time_range``, ``timezone``, ``granularity`` (not for the heatmap, whose buckets are
local hours), ``chat_id`` and ``topic``; every bad value is a 422 naming the parameter.
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
from ofca.domain.trends import (
    ActivityHeatmapResponse,
    ReplyTimeTrendResponse,
    SessionsSummaryResponse,
    VolumeTrendResponse,
)
from ofca.insights import sessions_summary, trends
from ofca.settings import Settings

__all__ = ["InsightChartsController"]


class InsightChartsController(Controller):
    path = "/api/v1/insights"
    tags = ["insights"]

    @get("/reply-time-trend", summary="Fan wait time (median, p90, within SLA) per time bucket")
    async def reply_time_trend(
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
    ) -> ReplyTimeTrendResponse:
        """Replies bucketed by the time of their run's first fan message; every bucket is
        listed, with null statistics and their reason where it has no reply."""
        account = scope_account(principal, account_id, "read")
        window = request_window(start, end, time_range, settings)
        zone_name, bucket = zone_and_granularity(timezone, granularity)
        check_bucket_count(window, bucket, "granularity")
        return await trends.reply_time_trend(
            account,
            window,
            zone_name,
            bucket,
            settings.reply_sla_seconds,
            insight_filters(topic, chat_id),
        )

    @get("/volume-trend", summary="Messages (inbound, outbound) created per time bucket")
    async def volume_trend(
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
    ) -> VolumeTrendResponse:
        account = scope_account(principal, account_id, "read")
        window = request_window(start, end, time_range, settings)
        zone_name, bucket = zone_and_granularity(timezone, granularity)
        check_bucket_count(window, bucket, "granularity")
        return await trends.volume_trend(
            account, window, zone_name, bucket, insight_filters(topic, chat_id)
        )

    @get("/activity-heatmap", summary="Fan messages by weekday and local hour")
    async def activity_heatmap(
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
    ) -> ActivityHeatmapResponse:
        """168 cells (weekday 0 = Monday, hour 0-23 in ``timezone``); ``granularity`` is
        validated like everywhere but the cells are always local hours."""
        account = scope_account(principal, account_id, "read")
        window = request_window(start, end, time_range, settings)
        zone_name, _bucket = zone_and_granularity(timezone, granularity)
        check_bucket_count(window, "hour", "start")
        return await trends.activity_heatmap(
            account, window, zone_name, insight_filters(topic, chat_id)
        )

    @get("/sessions", summary="Sessions, their mean size and duration, per time bucket")
    async def sessions(
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
    ) -> SessionsSummaryResponse:
        """Seed 002's session analytics (``total_sessions``, ``avg_messages_per_session``,
        ``avg_duration_minutes``, ``by_date``) over the sessions starting in the window."""
        account = scope_account(principal, account_id, "read")
        window = request_window(start, end, time_range, settings)
        zone_name, bucket = zone_and_granularity(timezone, granularity)
        check_bucket_count(window, bucket, "granularity")
        return await sessions_summary.sessions_summary(
            account, window, zone_name, bucket, insight_filters(topic, chat_id)
        )
