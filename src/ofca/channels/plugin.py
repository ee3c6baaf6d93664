"""The Channels plugin, with the Redis pub/sub backend when Redis is configured."""

from __future__ import annotations

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.asyncio import Redis

from ofca.settings import Settings

__all__ = ["create_channels_plugin"]


def create_channels_plugin(settings: Settings, redis: Redis | None) -> ChannelsPlugin:
    if redis is not None:
        backend = RedisChannelsPubSubBackend(redis=redis)
    else:
        backend = MemoryChannelsBackend()
    return ChannelsPlugin(
        backend=backend,
        arbitrary_channels_allowed=True,
        # Bounded: a slow dashboard cannot grow memory without bound (STACK_NOTES).
        subscriber_max_backlog=settings.subscriber_max_backlog,
        subscriber_backlog_strategy="dropleft",
    )
