"""``GET /health`` and ``/api/v1/health``: liveness and each dependency's state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import msgspec
from litestar import Controller, Response, get

from ofca import __version__
from ofca.channels.monitor import ChannelsMonitor
from ofca.persistence.engine import database_state
from ofca.persistence.sql import database

__all__ = ["HealthController", "HealthReport"]

DependencyState = Literal["connected", "unavailable"]


class HealthReport(msgspec.Struct, kw_only=True):
    status: Literal["healthy", "degraded", "unhealthy"]
    version: str
    timestamp: datetime
    dependencies: dict[str, DependencyState]
    """``database`` and ``channels`` (Redis when configured, else in-process memory)."""


class HealthController(Controller):
    tags = ["health"]

    @get(["/health", "/api/v1/health"], summary="Service health", cache=False)
    async def health(self, channels_monitor: ChannelsMonitor) -> Response[HealthReport]:
        """503 when the database is unreachable; ``degraded`` when only live delivery is."""
        db = await database_state(database())
        channels = await channels_monitor.state()
        if db != "connected":
            status, code = "unhealthy", 503
        elif channels != "connected":
            status, code = "degraded", 200
        else:
            status, code = "healthy", 200
        report = HealthReport(
            status=status,
            version=__version__,
            timestamp=datetime.now(UTC),
            dependencies={"database": db, "channels": channels},
        )
        return Response(report, status_code=code)
