"""What a Redis failure means: the broker of live delivery (and of presence and shared
rate limits) cannot be reached now. Told apart from a database outage so an answer names
what is actually down."""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["is_redis_unavailable"]


def is_redis_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) is Redis not answering."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (RedisConnectionError, RedisTimeoutError)):
            return True
        current = current.__cause__ or current.__context__
    return False
