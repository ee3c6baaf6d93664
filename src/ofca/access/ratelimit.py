"""REST rate limits: per credential (API key or login session) and per IP when anonymous;
the webhook routes (seed 004's transcript webhook, Chatwoot's) also per IP, whoever calls.

Fixed one-minute windows. With Redis configured the counters live there (``INCR`` +
``EXPIRE`` in one MULTI pipeline, keys under ``OFCA_CHANNEL_PREFIX``) so every process
shares them; otherwise, and whenever Redis fails, in this process's memory: a Redis outage
never fails a request, it only makes limits per process until Redis answers again.
WebSocket frames have their own per-connection limit (the live service).

Login attempts have budgets of their own (:meth:`RateLimiter.login_attempt`): per client IP
and per (IP, e-mail address). Not per address alone: then anyone could lock a user out
with ten wrong passwords a minute.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from redis.asyncio import Redis

from ofca.access.principals import principal_from_connection
from ofca.errors import error_body
from ofca.settings import Settings

__all__ = [
    "LOGIN_ATTEMPTS_PER_IP_PER_MINUTE",
    "LOGIN_ATTEMPTS_PER_MINUTE",
    "Decision",
    "RateLimitMiddleware",
    "RateLimiter",
]

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
REDIS_TIMEOUT_SECONDS = 0.5
REDIS_RETRY_AFTER_SECONDS = 5.0
"""After a Redis failure, count in memory this long before trying Redis again."""
WARNING_INTERVAL_SECONDS = 30.0
EXEMPT_PATHS = frozenset({"/health", "/api/v1/health"})
EXEMPT_PREFIXES = ("/static/",)
WEBHOOK_PREFIXES = ("/api/v1/webhook/", "/api/v1/integrations/")
"""Routes other systems post to: limited per client IP (``OFCA_WEBHOOK_RATE_LIMIT_PER_MINUTE``)."""


LOGIN_ATTEMPTS_PER_MINUTE = 10
"""Login attempts per minute for one e-mail address from one client IP."""
LOGIN_ATTEMPTS_PER_IP_PER_MINUTE = 30
"""Login attempts per minute from one client IP, whatever the addresses."""


def is_webhook_path(path: str) -> bool:
    return path.startswith(WEBHOOK_PREFIXES)


class Decision(msgspec.Struct, frozen=True):
    allowed: bool
    limit: int
    remaining: int
    reset_at: int
    """Epoch second the current window ends (``X-RateLimit-Reset``)."""
    retry_after: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset_at).encode()),
        ]
        if not self.allowed:
            headers.append((b"retry-after", str(self.retry_after).encode()))
        return headers


class MemoryWindows:
    """Per-process counters; old windows are pruned as new ones start."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._window = 0

    def hit(self, bucket: str, window_start: int) -> int:
        if window_start != self._window:
            self._counts.clear()
            self._window = window_start
        count = self._counts.get(bucket, 0) + 1
        self._counts[bucket] = count
        return count


class RateLimiter:
    def __init__(self, settings: Settings, redis: Redis | None) -> None:
        self.settings = settings
        self.redis = redis
        self.memory = MemoryWindows()
        self._redis_retry_at = 0.0
        self._last_warning = 0.0

    def _key(self, bucket: str, window_start: int) -> str:
        return f"{self.settings.channel_prefix}:ratelimit:{bucket}:{window_start}"

    async def _redis_hit(self, redis: Redis, bucket: str, window_start: int) -> int:
        key = self._key(bucket, window_start)
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, WINDOW_SECONDS * 2)
            count, _ = await pipe.execute()
        return int(count)

    async def count(self, bucket: str, window_start: int) -> int:
        now = time.monotonic()
        if self.redis is not None and now >= self._redis_retry_at:
            try:
                return await asyncio.wait_for(
                    self._redis_hit(self.redis, bucket, window_start), REDIS_TIMEOUT_SECONDS
                )
            except Exception as exc:  # any Redis trouble: degrade, never fail the request
                self._redis_retry_at = now + REDIS_RETRY_AFTER_SECONDS
                if now - self._last_warning >= WARNING_INTERVAL_SECONDS:
                    self._last_warning = now
                    log.warning(
                        "rate limits fall back to process memory: redis failed (%s)",
                        type(exc).__name__,
                    )
        return self.memory.hit(bucket, window_start)

    async def hit(self, bucket: str, limit: int, now: float | None = None) -> Decision:
        now = time.time() if now is None else now
        window_start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
        reset_at = window_start + WINDOW_SECONDS
        count = await self.count(bucket, window_start)
        return Decision(
            allowed=count <= limit,
            limit=limit,
            remaining=max(0, limit - count),
            reset_at=reset_at,
            retry_after=max(1, math.ceil(reset_at - now)),
        )

    async def login_attempt(self, client_ip: str, email: str) -> Decision | None:
        """Count a login attempt; the refusing decision when it is over a budget (per IP,
        then per IP and address), else None. The address is hashed in the key."""
        decision = await self.hit(f"login-ip:{client_ip}", LOGIN_ATTEMPTS_PER_IP_PER_MINUTE)
        if not decision.allowed:
            return decision
        digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        decision = await self.hit(f"login:{client_ip}:{digest}", LOGIN_ATTEMPTS_PER_MINUTE)
        return None if decision.allowed else decision


class RateLimitMiddleware:
    """ASGI middleware for HTTP routes; adds the ``X-RateLimit-*`` headers, answers 429."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != ScopeType.HTTP
            or scope.get("method") == "OPTIONS"
            or path in EXEMPT_PATHS
            or path.startswith(EXEMPT_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        settings: Settings = self.limiter.settings
        connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
        host = connection.client.host if connection.client else "unknown"
        buckets: list[tuple[str, int]] = []
        webhook = is_webhook_path(path)
        if webhook:
            buckets.append((f"webhook-ip:{host}", settings.webhook_rate_limit_per_minute))
        principal = await principal_from_connection(connection, settings)
        if principal is not None:
            buckets.append((f"cred:{principal.credential_id}", settings.rest_rate_limit_per_minute))
        elif not webhook:
            buckets.append((f"ip:{host}", settings.ip_rate_limit_per_minute))
        decisions: list[Decision] = []
        for bucket, limit in buckets:  # never empty: a webhook, a credential or an IP
            decision = await self.limiter.hit(bucket, limit)
            if not decision.allowed:
                await _send_429(send, decision)
                return
            decisions.append(decision)
        # The headers describe the limit closest to refusing this caller.
        limited = min(decisions, key=lambda decision: decision.remaining)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *limited.headers()]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _send_429(send: Send, decision: Decision) -> None:
    body = msgspec.json.encode(
        error_body(f"Rate limit exceeded. Try again in {decision.retry_after} seconds.", 429)
    )
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *decision.headers(),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
