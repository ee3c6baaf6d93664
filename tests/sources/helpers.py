"""Small helpers shared by the source tests."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

__all__ = ["auth", "post_webhook", "sign"]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def post_webhook(
    client: AsyncTestClient[Litestar],
    key: str,
    body: dict[str, Any],
    *,
    secret: str | None = None,
    signature: str | None = None,
) -> Any:
    raw = msgspec.json.encode(body)
    headers = {**auth(key), "Content-Type": "application/json"}
    if secret is not None:
        headers["X-Webhook-Signature"] = sign(secret, raw)
    if signature is not None:
        headers["X-Webhook-Signature"] = signature
    return await client.post("/api/v1/webhook/conversation", content=raw, headers=headers)
