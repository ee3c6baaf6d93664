"""``GET /api/v1/insights/{revenue, fans, chatters}``: money, the fans who pay and the
chatters who sell (definitions: docs/metrics.md, "Money" and "Chatters").

The same parameters as the other insights (``ofca.controllers.params``): ``start``/``end``
or ``time_range``, ``timezone``, ``granularity``, ``chat_id`` and ``topic``, plus
``chatter`` (revenue, chatters) and ``tier``/``limit`` (fans); every bad value is a 422
naming the parameter.
"""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from ofca.access.principals import scope_account
from ofca.controllers.params import (
    AccountParam,
    ChatParam,
    ChatterParam,
    EndParam,
    GranularityParam,
    LimitParam,
    StartParam,
    TierParam,
    TimeRangeParam,
    TimezoneParam,
    TopicParam,
    check_bucket_count,
    fan_tier,
    money_filters,
    request_window,
    row_limit,
    zone_and_granularity,
)
from ofca.domain.auth import Principal
from ofca.domain.insights import ChattersResponse, FansResponse, RevenueResponse
from ofca.insights import money, revenue
from ofca.settings import Settings

__all__ = ["MoneyController"]


class MoneyController(Controller):
    path = "/api/v1/insights"
    tags = ["insights"]

    @get("/revenue", summary="Tips and PPV: gross, net, unlock rate, paying fans, trend")
    async def revenue(
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
        chatter: ChatterParam = None,
    ) -> RevenueResponse:
        """The window's and the previous window's revenue, and its trend per bucket (every
        bucket present). A PPV purchase counts at its offer's time."""
        account = scope_account(principal, account_id, "read")
        window = request_window(start, end, time_range, settings)
        zone_name, bucket = zone_and_granularity(timezone, granularity)
        check_bucket_count(window, bucket, "granularity")
        return await revenue.revenue(
            account, window, zone_name, bucket, money_filters(topic, chat_id, chatter), settings
        )

    @get("/fans", summary="Fans by lifetime spend, tier, and who is waiting with how much spend")
    async def fans(
        self,
        principal: NamedDependency[Principal],
        settings: NamedDependency[Settings],
        account_id: AccountParam = None,
        start: StartParam = None,
        end: EndParam = None,
        time_range: TimeRangeParam = None,
        timezone: TimezoneParam = None,
        granularity: GranularityParam = None,
        tier: TierParam = None,
        limit: LimitParam = None,
    ) -> FansResponse:
        """Each chat as it stood at the window's end (``as_of``): lifetime and window spend,
        tier, waiting time; ``spend_waiting`` over the fans waiting longer than the SLA."""
        account = scope_account(principal, account_id, "read")
        window = request_window(start, end, time_range, settings)
        zone_and_granularity(timezone, granularity)
        return await money.fans(account, window, settings, fan_tier(tier), row_limit(limit))

    @get("/chatters", summary="Per chatter: messages, replies, PPV sales, tips, revenue")
    async def chatters(
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
        chatter: ChatterParam = None,
    ) -> ChattersResponse:
        """A row per chatter active in the window, by revenue; their revenues add up to the
        window's gross."""
        account = scope_account(principal, account_id, "read")
        window = request_window(start, end, time_range, settings)
        zone_and_granularity(timezone, granularity)
        return await money.chatters(
            account, window, money_filters(topic, chat_id, chatter), settings
        )
