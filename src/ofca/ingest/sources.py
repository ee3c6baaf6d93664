"""Writing what the other sources send (seed-004 webhook, Chatwoot) through the write path
of the extension's deltas (``ingest.write``): storage, enrichment, insights read models,
command links, live events.

Also the per-account credentials of those sources: the webhook HMAC secret and the
Chatwoot token (stored as SHA-256, shown once).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import msgspec

from ofca.domain.normalize import normalize_chat, normalize_message
from ofca.domain.onlyfans import Chat
from ofca.domain.records import StoredChat, chat_record
from ofca.domain.sources import MappedBatch
from ofca.domain.storable import chat_refusal, message_refusal
from ofca.errors import field_error
from ofca.ingest.context import Ingest, ValueRefused, log_frame
from ofca.ingest.write import Change, Received, link_commands, publish_changes, store_enriched
from ofca.persistence.tables import Account, ChatwootToken

__all__ = [
    "ChatwootAuth",
    "StoreResult",
    "chatwoot_auth",
    "generate_chatwoot_token",
    "set_chatwoot_signing_secret",
    "set_webhook_secret",
    "store_batch",
    "verify_chatwoot_signature",
    "verify_signature",
    "webhook_secret",
]

log = logging.getLogger(__name__)

CHATWOOT_TOKEN_PREFIX = "ofcacw_"


class StoreResult(msgspec.Struct, kw_only=True):
    accepted: int = 0
    duplicates: int = 0
    updated: int = 0
    ignored: int = 0
    chats: int = 0
    changed_message_ids: list[str] = []
    """New or edited messages, in the order received."""
    duplicate_message_ids: list[str] = []
    edited_message_ids: list[str] = []


# --------------------------------------------------------------------------- credentials


async def webhook_secret(account_id: str) -> str | None:
    row = (
        await Account.select(Account.webhook_secret)
        .where(Account.account_id == account_id)
        .first()
        .run()
    )
    return None if row is None else row["webhook_secret"]


async def set_webhook_secret(account_id: str, secret: str | None) -> bool:
    """Set (or clear, with ``None``) the account's webhook secret; False if no account."""
    updated = (
        await Account.update({Account.webhook_secret: secret})
        .where(Account.account_id == account_id)
        .returning(Account._meta.primary_key)
        .run()
    )
    return bool(updated)


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """``X-Webhook-Signature: sha256=<hex>`` of the raw body, compared in constant time."""
    if not header:
        return False
    scheme, _, given = header.strip().partition("=")
    if scheme.lower() != "sha256" or not given:
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given.strip().lower())


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def generate_chatwoot_token(account_id: str) -> str:
    """A new token for the account's Chatwoot webhook; the previous one stops working (a
    configured signing secret is kept)."""
    token = CHATWOOT_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_hash, prefix = _hash_token(token), token[: len(CHATWOOT_TOKEN_PREFIX) + 6]
    created_at = datetime.now(UTC)
    updated = (
        await ChatwootToken.update(
            {
                ChatwootToken.token_hash: token_hash,
                ChatwootToken.prefix: prefix,
                ChatwootToken.created_at: created_at,
            }
        )
        .where(ChatwootToken.account_id == account_id)
        .returning(ChatwootToken._meta.primary_key)
        .run()
    )
    if not updated:
        await (
            ChatwootToken(
                account_id=account_id, token_hash=token_hash, prefix=prefix, created_at=created_at
            )
            .save()
            .run()
        )
    return token


async def set_chatwoot_signing_secret(account_id: str, secret: str | None) -> bool:
    """Require (or stop requiring, with ``None``) Chatwoot's signature; False when the
    account has no Chatwoot token yet."""
    updated = (
        await ChatwootToken.update({ChatwootToken.signing_secret: secret})
        .where(ChatwootToken.account_id == account_id)
        .returning(ChatwootToken._meta.primary_key)
        .run()
    )
    return bool(updated)


CHATWOOT_SIGNATURE_MAX_AGE = 300
"""Seconds a signed Chatwoot delivery stays acceptable (replay window)."""


class ChatwootAuth(msgspec.Struct, frozen=True):
    token_ok: bool
    signing_secret: str | None = None


async def chatwoot_auth(account_id: str, token: str | None) -> ChatwootAuth:
    """Whether ``token`` is the account's current Chatwoot token, and the signing secret
    its deliveries must be signed with (if configured)."""
    if not token or len(token) > 200:
        return ChatwootAuth(token_ok=False)
    row = (
        await ChatwootToken.select(ChatwootToken.token_hash, ChatwootToken.signing_secret)
        .where(ChatwootToken.account_id == account_id)
        .first()
        .run()
    )
    if row is None or not hmac.compare_digest(row["token_hash"], _hash_token(token)):
        return ChatwootAuth(token_ok=False)
    return ChatwootAuth(token_ok=True, signing_secret=row["signing_secret"])


def verify_chatwoot_signature(
    secret: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: float | None = None,
) -> bool:
    """Chatwoot's ``X-Chatwoot-Signature: sha256=<hex>``: HMAC-SHA256 of
    ``"<X-Chatwoot-Timestamp>.<raw body>"``; the timestamp must be within
    :data:`CHATWOOT_SIGNATURE_MAX_AGE` seconds of now."""
    if not signature or not timestamp or not timestamp.strip().isdigit():
        return False
    if abs((now if now is not None else time.time()) - int(timestamp)) > (
        CHATWOOT_SIGNATURE_MAX_AGE
    ):
        return False
    scheme, _, given = signature.strip().partition("=")
    if scheme.lower() != "sha256" or not given:
        return False
    expected = hmac.new(
        secret.encode("utf-8"), timestamp.strip().encode("ascii") + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, given.strip().lower())


# --------------------------------------------------------------------------- writing


def _chat_record(
    account_id: str, source: str, chat: Chat, origin: Any, now: datetime
) -> StoredChat:
    """The chat's record; ``raw`` keeps the chat and what the source said about it."""
    raw = msgspec.json.encode({"chat": chat, "origin": origin}).decode("utf-8")
    return chat_record(account_id, normalize_chat(chat), now, source, raw)


def _check_storable(batch: MappedBatch) -> None:
    """A 422 naming the first chat or message the database would refuse (``domain.storable``:
    a NUL character, an id too long, a count beyond its column); nothing is stored."""
    for chat in batch.chats:
        if (reason := chat_refusal(chat)) is not None:
            raise field_error("body", f"chat {chat.resolved_id!r}: {reason}")
    for message in batch.messages:
        if (reason := message_refusal(message)) is not None:
            raise field_error("body", f"message {str(message.id)!r}: {reason}")


async def store_batch(
    ingest: Ingest, account_id: str, source: str, kind: str, batch: MappedBatch, frame_bytes: int
) -> StoreResult:
    """Store a mapped batch through the write path of extension deltas (``ingest.write``:
    one atomic upsert, duplicates unwritten, enriched inline: sources send few messages
    per request), refresh the insight rows it made due before answering, then link
    commands, publish ``append_message`` per new or edited message (with the refreshed
    nodes) and schedule ``analytics_update``."""
    began = time.perf_counter()
    now = datetime.now(UTC)
    ctx = ingest.context(account_id)
    _check_storable(batch)
    fans = {chat.chat_id: chat.fan_id for chat in map(normalize_chat, batch.chats)}
    chats = [
        _chat_record(account_id, source, chat, batch.origin.get(chat.resolved_id), now)
        for chat in batch.chats
    ]
    received: list[Received] = []
    for message in batch.messages:
        chat_id = str(message.chat_id)
        normalized = normalize_message(message, chat_id, fans.get(chat_id))
        received.append((normalized, msgspec.json.encode(message)))
    try:
        outcome, records = await store_enriched(ctx, received, source=source, now=now, chats=chats)
    except ValueRefused as refused:
        detail = f"a value was refused by the database ({refused.error.detail})"
        raise field_error("body", detail) from None
    inserted, updated = set(outcome.inserted), set(outcome.updated)
    result = StoreResult(
        accepted=len(inserted), updated=len(updated), ignored=batch.ignored, chats=len(chats)
    )
    changes: list[Change] = []
    for index, record in enumerate(records):
        message_id = record.message_id
        if message_id in inserted or message_id in updated:
            result.changed_message_ids.append(message_id)
            changes.append((index, record, outcome.command_ids.get(message_id)))
        else:
            result.duplicates += 1
            result.duplicate_message_ids.append(message_id)
    result.edited_message_ids = [m for m in result.changed_message_ids if m in updated]
    if changes:
        await ctx.insights.refresh_now(account_id, outcome.due, publish=False)
        # The batch is committed: what follows must not turn it into an error (the sender
        # would retry, and a retry is a duplicate that publishes nothing).
        try:
            changes = await link_commands(ctx, changes)
            edited = {index for index, record, _ in changes if record.message_id in updated}
            await publish_changes(ctx, changes, edited)
        except Exception:
            log.exception("%s batch of %s stored; publishing failed", source, account_id)
        ctx.insights.schedule_analytics(account_id)
    duration_ms = (time.perf_counter() - began) * 1000
    await log_frame(
        account_id,
        source,
        kind,
        accepted=result.accepted,
        duplicates=result.duplicates,
        updated=result.updated,
        rejected=0,
        frame_bytes=frame_bytes,
        duration_ms=duration_ms,
        received_at=now,
    )
    log.info(
        "%s %s for %s: %d new, %d edited, %d duplicate, %d ignored in %.1f ms",
        source,
        kind,
        account_id,
        result.accepted,
        result.updated,
        result.duplicates,
        result.ignored,
        duration_ms,
    )
    return result
