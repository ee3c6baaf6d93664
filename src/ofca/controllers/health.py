"""``GET /health`` and ``/api/v1/health``: liveness and each dependency's state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State

from ofca import __version__
from ofca.services.health import channels_state, database_state

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
    async def health(self, state: State) -> Response[HealthReport]:
        """503 when the database is unreachable; ``degraded`` when only live delivery is."""
        database = await database_state(state)
        channels = await channels_state(state)
        if database != "connected":
            status, code = "unhealthy", 503
        elif channels != "connected":
            status, code = "degraded", 200
        else:
            status, code = "healthy", 200
        report = HealthReport(
            status=status,
            version=__version__,
            timestamp=datetime.now(UTC),
            dependencies={"database": database, "channels": channels},
        )
        return Response(report, status_code=code)
