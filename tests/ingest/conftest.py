"""Fixtures of the ingest and live-delivery tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.support.redis import ThrowawayRedis
from tests.support.server import free_port


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is needed for the outage test")
    redis = ThrowawayRedis(free_port())
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()
