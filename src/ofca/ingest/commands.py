"""Commands for the extension (``command_to_execute``) and who is there to run them.

Presence must hold across processes: an extension socket on process A and a dashboard's
POST on process B. With Redis, each connection is a member of a per-account sorted set
scored by its expiry (refreshed by keepalives); without Redis (one process by definition)
the same lives in ``ofca_extension_presence``. A connection that dies without saying goodbye
simply expires. Each process also remembers its own connections, to write them to Redis
again when Redis returns after an outage (:meth:`ExtensionCommands.register_again`), not
only at the extension's next keepalive.

A command is stored with the hash of its cleaned text; the extension's later outbound
``new_raw_message`` with that text in that chat is linked to the oldest unlinked command
(``ofca_message.command_id``).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from redis.asyncio import Redis

from ofca.channels.names import extension_channel
from ofca.channels.plugin import OfcaChannelsPlugin
from ofca.domain.text import clean_text
from ofca.domain.wss import CommandPayload, CommandToExecute, outgoing_encoder
from ofca.persistence.refresh_marks import Mark, mark_chats
from ofca.persistence.tables import CommandRow, ExtensionPresence, MessageRow
from ofca.settings import Settings

__all__ = [
    "PRESENCE_TTL_SECONDS",
    "ExtensionCommands",
    "LinkCandidate",
    "link_messages",
    "link_outbound",
    "text_hash",
]

log = logging.getLogger(__name__)

PRESENCE_TTL_SECONDS = 60
"""Three missed ~20 s keepalives and a connection no longer counts as present."""

LINK_WINDOW = timedelta(hours=6)
"""A message links only to a command issued at most this long before it was ingested."""


class ExtensionCommands:
    """Presence of the account's extensions and the commands sent to them (built once by
    the app, injected)."""

    def __init__(self, settings: Settings, channels: OfcaChannelsPlugin, redis: Redis | None):
        self.settings = settings
        self.channels = channels
        self.redis = redis
        self._connected: set[tuple[str, str]] = set()
        """(account id, connection id) of this process's extension sockets."""

    def _presence_key(self, account_id: str) -> str:
        return f"{self.settings.channel_prefix}:acct:{account_id}:ext_presence"

    async def mark_present(
        self, account_id: str, connection_id: str, ttl: float = PRESENCE_TTL_SECONDS
    ) -> None:
        """Call on connect and on every keepalive of an extension socket."""
        self._connected.add((account_id, connection_id))
        await self._store_presence(account_id, connection_id, ttl)

    async def _store_presence(self, account_id: str, connection_id: str, ttl: float) -> None:
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=ttl)
        if self.redis is not None:
            key = self._presence_key(account_id)
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zadd(key, {connection_id: expires.timestamp()})
                pipe.zremrangebyscore(key, "-inf", now.timestamp())
                pipe.expire(key, int(ttl) + 5)
                await pipe.execute()
            return
        updated = (
            await ExtensionPresence.update({ExtensionPresence.expires_at: expires})
            .where(
                (ExtensionPresence.account_id == account_id)
                & (ExtensionPresence.connection_id == connection_id)
            )
            .returning(ExtensionPresence._meta.primary_key)
            .run()
        )
        if not updated:
            await (
                ExtensionPresence(
                    account_id=account_id, connection_id=connection_id, expires_at=expires
                )
                .save()
                .run()
            )

    async def mark_absent(self, account_id: str, connection_id: str) -> None:
        """Call when an extension socket closes."""
        self._connected.discard((account_id, connection_id))
        if self.redis is not None:
            await self.redis.zrem(self._presence_key(account_id), connection_id)
            return
        await (
            ExtensionPresence.delete()
            .where(
                (ExtensionPresence.account_id == account_id)
                & (ExtensionPresence.connection_id == connection_id)
            )
            .run()
        )

    async def register_again(self) -> None:
        """Write this process's connections to Redis again (after an outage: a restarted
        Redis has lost them, and a long outage let them expire)."""
        if self.redis is None:
            return
        for account_id, connection_id in list(self._connected):
            if (account_id, connection_id) in self._connected:  # not closed meanwhile
                await self._store_presence(account_id, connection_id, PRESENCE_TTL_SECONDS)
        if self._connected:
            log.info("extension presence written again: %d connections", len(self._connected))

    async def present(self, account_id: str) -> bool:
        """Whether an extension of the account is connected (in any process)."""
        now = datetime.now(UTC)
        if self.redis is not None:
            key = self._presence_key(account_id)
            return int(await self.redis.zcount(key, f"({now.timestamp()}", "+inf")) > 0
        return bool(
            await ExtensionPresence.exists().where(
                (ExtensionPresence.account_id == account_id) & (ExtensionPresence.expires_at > now)
            )
        )

    async def issue(
        self,
        account_id: str,
        chat_id: str,
        text: str,
        media_url: str | None,
        issued_by: str | None = None,
    ) -> CommandPayload:
        """Store the command and publish it to the account's extension channel.
        ``issued_by``: the chatter asking (``user:<id>`` or ``key:<id>``), who is then the
        chatter of the message it produces (docs/metrics.md, "Chatters")."""
        now = datetime.now(UTC)
        payload = CommandPayload(
            command_id=f"cmd_{secrets.token_hex(12)}",
            chat_id=chat_id,
            text=text,
            media_url=media_url,
            issued_at=now,
        )
        await (
            CommandRow(
                command_id=payload.command_id,
                account_id=account_id,
                chat_id=chat_id,
                text_hash=text_hash(text) or "",
                media_url=media_url,
                created_at=now,
                issued_by=issued_by,
            )
            .save()
            .run()
        )
        channel = extension_channel(self.settings.channel_prefix, account_id)
        self.channels.publish(outgoing_encoder.encode(CommandToExecute(payload=payload)), [channel])
        log.info("command %s queued for %s chat %s", payload.command_id, account_id, chat_id)
        return payload


def text_hash(text: str | None) -> str | None:
    cleaned = clean_text(text)
    return None if cleaned is None else hashlib.sha256(cleaned.encode("utf-8")).hexdigest()


class LinkCandidate(NamedTuple):
    """An outbound message not linked to a command yet (its stored, cleaned text)."""

    message_id: str
    chat_id: str
    text: str | None
    created_at: datetime | None
    ingested_at: datetime | None


async def link_messages(account_id: str, message_ids: Iterable[str]) -> int:
    """Link new outbound messages to the commands that produced them; returns links made.

    Call after a batch is committed with its new/edited message ids (sources whose rows
    are not at hand). The common case, no pending command in those chats, costs two
    indexed queries."""
    ids = list(message_ids)
    if not ids:
        return 0
    rows = await MessageRow.select(
        MessageRow.message_id,
        MessageRow.chat_id,
        MessageRow.text,
        MessageRow.ingested_at,
        MessageRow.created_at,
    ).where(
        (MessageRow.account_id == account_id)
        & MessageRow.message_id.is_in(ids)
        & (MessageRow.direction == "outbound")
        & MessageRow.command_id.is_null()
    )
    candidates = [
        LinkCandidate(r["message_id"], r["chat_id"], r["text"], r["created_at"], r["ingested_at"])
        for r in rows
    ]
    return len(await link_outbound(account_id, candidates))


async def link_outbound(account_id: str, candidates: Sequence[LinkCandidate]) -> dict[str, str]:
    """Link these committed outbound messages to the commands that produced them; returns
    message id -> command id of the links made. Without a pending command in their chats
    (the common case) this is one indexed query."""
    if not candidates:
        return {}
    now = datetime.now(UTC)
    pending = (
        await CommandRow.select(
            CommandRow._meta.primary_key,
            CommandRow.command_id,
            CommandRow.chat_id,
            CommandRow.text_hash,
            CommandRow.created_at,
            CommandRow.issued_by,
        )
        .where(
            (CommandRow.account_id == account_id)
            & CommandRow.chat_id.is_in(sorted({c.chat_id for c in candidates}))
            & CommandRow.linked_message_id.is_null()
            & (CommandRow.created_at >= now - LINK_WINDOW)
        )
        .order_by(CommandRow.created_at)
        .run()
    )
    if not pending:
        return {}
    links: dict[str, str] = {}
    chatter_due: list[Mark] = []
    # Oldest message first, each to the oldest matching command issued before it arrived.
    for candidate in sorted(candidates, key=lambda c: (c.created_at or now, c.message_id)):
        digest = text_hash(candidate.text)
        ingested = candidate.ingested_at or now
        command = next(
            (
                c
                for c in pending
                if c["chat_id"] == candidate.chat_id
                and c["text_hash"] == digest
                and c["created_at"] <= ingested
            ),
            None,
        )
        if digest is None or command is None:
            continue
        pending.remove(command)
        claimed = (
            await CommandRow.update(
                {CommandRow.linked_message_id: candidate.message_id, CommandRow.linked_at: now}
            )
            .where(
                (CommandRow._meta.primary_key == command["id"])
                & CommandRow.linked_message_id.is_null()
            )
            .returning(CommandRow._meta.primary_key)
            .run()
        )
        if not claimed:
            continue  # another process linked it first
        update: dict[Any, Any] = {MessageRow.command_id: command["command_id"]}
        if command["issued_by"]:
            update[MessageRow.chatter] = command["issued_by"]
            if candidate.created_at is not None:
                chatter_due.append((candidate.chat_id, candidate.created_at, False))
        await (
            MessageRow.update(update)
            .where(
                (MessageRow.account_id == account_id)
                & (MessageRow.message_id == candidate.message_id)
            )
            .run()
        )
        links[candidate.message_id] = command["command_id"]
    if chatter_due:
        # A refresh may have read the message before it had its chatter (the write
        # committed first): its chat's reply rows are derived again.
        await mark_chats(account_id, chatter_due)
    if links:
        log.info("linked %d messages of %s to commands", len(links), account_id)
    return links
