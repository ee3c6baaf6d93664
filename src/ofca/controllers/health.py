"""``GET /health`` and ``/api/v1/health``: liveness and each dependency's state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency

from ofca import __version__
from ofca.channels.monitor import ChannelsMonitor
from ofca.insights.scheduler import InsightsScheduler
from ofca.persistence.engine import database_state
from ofca.persistence.sql import database

__all__ = ["HealthController", "HealthReport"]

DependencyState = Literal["connected", "unavailable", "ok", "failing"]
"""``database`` and ``channels``: connected or unavailable; ``insights``: ok or failing."""


class HealthReport(msgspec.Struct, kw_only=True):
    status: Literal["healthy", "degraded", "unhealthy"]
    version: str
    timestamp: datetime
    dependencies: dict[str, DependencyState]
    """``database`` and ``channels`` (Redis when configured, else in-process memory), and
    ``insights``: ``failing`` while this process's insight refreshes fail (the dashboards'
    numbers fall behind the stored messages)."""


class HealthController(Controller):
    tags = ["health"]

    @get(["/health", "/api/v1/health"], summary="Service health", cache=False)
    async def health(
        self,
        channels_monitor: NamedDependency[ChannelsMonitor],
        insights: NamedDependency[InsightsScheduler],
    ) -> Response[HealthReport]:
        """503 when the database is unreachable; ``degraded`` (200) when live delivery is,
        or while insight refreshes fail."""
        db = await database_state(database())
        channels = await channels_monitor.state()
        refreshes: DependencyState = "failing" if insights.refreshes_failing else "ok"
        status: Literal["healthy", "degraded", "unhealthy"]
        if db != "connected":
            status, code = "unhealthy", 503
        elif channels != "connected" or refreshes == "failing":
            status, code = "degraded", 200
        else:
            status, code = "healthy", 200
        report = HealthReport(
            status=status,
            version=__version__,
            timestamp=datetime.now(UTC),
            dependencies={"database": db, "channels": channels, "insights": refreshes},
        )
        return Response(report, status_code=code)
