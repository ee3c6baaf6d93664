"""Dependency probes, bounded in time so a hung dependency cannot hang /health."""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from litestar.datastructures import State

__all__ = ["channels_state", "database_state"]

log = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 2.0


async def database_state(state: State) -> Literal["connected", "unavailable"]:
    try:
        await asyncio.wait_for(state.engine.run_ddl("SELECT 1"), PROBE_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure means "not usable now"
        log.warning("database probe failed: %s", type(exc).__name__)
        return "unavailable"
    return "connected"


async def channels_state(state: State) -> Literal["connected", "unavailable"]:
    monitor = state.get("channels_monitor")
    if monitor is not None and not monitor.healthy:
        return "unavailable"
    redis = state.get("redis")
    if redis is None:
        return "connected"  # in-memory channels live as long as the process
    try:
        await asyncio.wait_for(redis.ping(), PROBE_TIMEOUT_SECONDS)
    except Exception as exc:
        log.warning("redis probe failed: %s", type(exc).__name__)
        return "unavailable"
    return "connected"
