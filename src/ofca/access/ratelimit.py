"""REST rate limits: per credential (API key or login session) and per IP when anonymous;
the webhook routes (seed 004's transcript webhook, Chatwoot's) also per IP, whoever calls.

Fixed one-minute windows. With Redis configured the counters live there (``INCR`` +
``EXPIRE`` in one MULTI pipeline, keys under ``OFCA_CHANNEL_PREFIX``) so every process
shares them; otherwise, and whenever Redis fails, in this process's memory: a Redis outage
never fails a request, it only makes limits per process until Redis answers again.
WebSocket frames have a budget per credential (:class:`FrameBudget`): a token bucket of
``OFCA_WS_FRAMES_PER_MINUTE`` (bursts up to ``OFCA_WS_FRAME_BURST``) shared by every
socket of the key, in every process: with Redis the bucket lives there and each process
leases a few tokens at a time (one round trip per lease, not per frame); without Redis,
and while Redis fails, each process keeps the bucket in memory.

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
import weakref
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
    "FrameBudget",
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


PRUNE_SECONDS = 60.0
"""How often the frame budgets of keys gone idle are let go."""
LEASE_SECONDS = 0.2
"""A process leases from the shared frame bucket about this long's worth of frames at a
time (at least 1, at most the burst): the frames one process may hold that another
cannot use."""

_TAKE_FRAMES = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local granted = math.min(want, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
local wait = 0
if granted == 0 then wait = math.ceil((1 - tokens) / rate) end
return {granted, wait}
"""
"""A token bucket in Redis (rate in tokens per ms, Redis' own clock): take up to ``want``
tokens; answers ``{granted, ms until the next token when none was}``."""


class _LocalBucket:
    """A token bucket in this process's memory (rate per second)."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait_ms(self) -> int:
        return max(1, math.ceil((1.0 - self.tokens) / self.rate * 1000))


class FrameBudget:
    """The WebSocket frame budget of one credential in this process, shared by all its
    sockets here (:meth:`RateLimiter.frame_budget`) and, with Redis, with every other
    process: ``OFCA_WS_FRAMES_PER_MINUTE`` sustained, bursts up to ``OFCA_WS_FRAME_BURST``
    (or the minute's allowance when that is smaller)."""

    def __init__(self, limiter: RateLimiter, credential_id: str) -> None:
        settings = limiter.settings
        self.per_minute = settings.ws_frames_per_minute
        self._rate = self.per_minute / 60.0
        self._burst = float(min(settings.ws_frame_burst, self.per_minute))
        self._limiter = limiter
        self._key = f"{settings.channel_prefix}:framebudget:{credential_id}"
        self._local = _LocalBucket(self._rate, self._burst)
        self._leased = 0
        self._lease = max(1, min(int(self._burst), math.ceil(self._rate * LEASE_SECONDS)))
        self._wait_ms = 0
        self._leasing = asyncio.Lock()
        self._used_at = time.monotonic()

    def idle_full(self, now: float) -> bool:
        """Unused long enough to be full again (a new budget would be the same)."""
        return now - self._used_at > self._burst / self._rate + LEASE_SECONDS

    async def take(self) -> bool:
        """One frame's token; False when the key's budget is spent (see
        :meth:`retry_after_ms`)."""
        self._used_at = time.monotonic()
        if self._leased > 0:
            self._leased -= 1
            return True
        if self._limiter.redis is None:
            return self._take_local()
        async with self._leasing:  # one lease at a time; the sockets waiting share it
            if self._leased == 0:
                lease = await self._limiter.lease_frames(
                    self._key, self._rate / 1000.0, self._burst, self._lease
                )
                if lease is None:  # Redis failed: this process's bucket meanwhile
                    return self._take_local()
                self._leased, wait_ms = lease
                if self._leased == 0:
                    self._wait_ms = wait_ms
                    return False
            self._leased -= 1
            return True

    def _take_local(self) -> bool:
        if self._local.take():
            return True
        self._wait_ms = self._local.wait_ms()
        return False

    def retry_after_ms(self) -> int:
        """How long until the key's next frame would get a token (after a refusal)."""
        return max(1, self._wait_ms)


class RateLimiter:
    def __init__(self, settings: Settings, redis: Redis | None) -> None:
        self.settings = settings
        self.redis = redis
        self.memory = MemoryWindows()
        self._redis_retry_at = 0.0
        self._last_warning = 0.0
        self._budgets: weakref.WeakValueDictionary[str, FrameBudget] = weakref.WeakValueDictionary()
        """Every budget a socket holds: all sockets of a key in this process share one."""
        self._recent: dict[str, FrameBudget] = {}
        """Budgets kept after their last socket closed, until they are full again: a key
        that reconnects does not start over with a full burst."""
        self._pruned_at = time.monotonic()

    def frame_budget(self, credential_id: str) -> FrameBudget:
        """The frame budget of ``credential_id`` in this process, shared by its sockets."""
        now = time.monotonic()
        if now - self._pruned_at >= PRUNE_SECONDS:
            self._pruned_at = now
            for stale in [k for k, b in self._recent.items() if b.idle_full(now)]:
                del self._recent[stale]
        budget = self._budgets.get(credential_id)
        if budget is None:
            budget = FrameBudget(self, credential_id)
            self._budgets[credential_id] = budget
        self._recent[credential_id] = budget
        return budget

    async def lease_frames(
        self, key: str, rate_per_ms: float, burst: float, want: int
    ) -> tuple[int, int] | None:
        """Up to ``want`` tokens of the shared frame bucket ``key``: (granted, ms until the
        next token when none was); None while Redis fails (or without it)."""
        now = time.monotonic()
        if self.redis is None or now < self._redis_retry_at:
            return None
        try:
            granted, wait_ms = await asyncio.wait_for(
                self.redis.eval(_TAKE_FRAMES, 1, key, rate_per_ms, burst, want),
                REDIS_TIMEOUT_SECONDS,
            )
        except Exception as exc:  # any Redis trouble: per process, never fail the frame
            # INFO: the channels monitor already warns once per outage, and a socket
            # carries on whatever Redis does.
            self._redis_failed(now, exc, logging.INFO)
            return None
        return int(granted), int(wait_ms)

    def _redis_failed(self, now: float, exc: BaseException, level: int = logging.WARNING) -> None:
        self._redis_retry_at = now + REDIS_RETRY_AFTER_SECONDS
        if now - self._last_warning >= WARNING_INTERVAL_SECONDS:
            self._last_warning = now
            log.log(
                level,
                "rate limits fall back to process memory: redis failed (%s)",
                type(exc).__name__,
            )

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
                self._redis_failed(now, exc)
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
