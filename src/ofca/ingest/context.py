"""What every ingest path shares: the account's context, the services it reports to, and
this process's per-account writer lock and fan cache.

Ingest writes messages and tells two other contexts about them, without knowing them:
the insights scheduler (``persistence.refresh_marks.RefreshScheduler``: re-derive these
chats soon) and the conversations feed (:class:`ConversationFeed`: the ``append_message``
frames of what was stored). The app builds both once and hands them to :class:`Ingest`.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec
from piccolo.engine.base import Engine

from ofca.channels.plugin import OfcaChannelsPlugin
from ofca.domain.enrichment import DEFAULT_MATCHER, TopicMatcher
from ofca.domain.frames import FrameError
from ofca.domain.wss import ErrorCode, MessageView
from ofca.persistence import topic_rules
from ofca.persistence.refresh_marks import RefreshScheduler
from ofca.persistence.sql import database
from ofca.persistence.tables import IngestLog
from ofca.settings import Settings

__all__ = [
    "ConversationFeed",
    "FrameRejected",
    "Ingest",
    "IngestContext",
    "ValueRefused",
    "account_writer",
    "known_fan",
    "log_frame",
    "matcher_for",
    "remember_fan",
]

log = logging.getLogger(__name__)

_FAN_CACHE_MAX = 200_000


class FrameRejected(Exception):
    """The frame is invalid; nothing of it was stored."""

    def __init__(self, code: ErrorCode, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.error = FrameError(code, message, detail)


class ValueRefused(FrameRejected):
    """The database refused a value of what was written (``persistence.faults.
    is_value_refused``); nothing of that write was stored. Not retryable: the same value
    fails again. A run of deltas is then written message by message, so only the message
    carrying it is refused."""

    def __init__(self, detail: str) -> None:
        super().__init__("validation_error", "A value was refused by the database", detail)


class ConversationFeed(Protocol):
    """The dashboards' view of stored messages (the conversations context)."""

    async def append_frames(
        self, account_id: str, changes: Sequence[tuple[MessageView, bool]]
    ) -> list[bytes]:
        """Encoded ``append_message`` per ``(message, edited)``, in order, each with its
        chat's node as it now is (read after the change was committed)."""
        ...


class IngestContext(msgspec.Struct, kw_only=True):
    """One account's ingest: where it writes and whom it tells."""

    account_id: str
    settings: Settings
    engine: Engine[Any]
    channels: OfcaChannelsPlugin
    insights: RefreshScheduler
    feed: ConversationFeed


class Ingest:
    """The ingest service of a served process (built once by the app, injected)."""

    def __init__(
        self,
        settings: Settings,
        channels: OfcaChannelsPlugin,
        insights: RefreshScheduler,
        feed: ConversationFeed,
    ) -> None:
        self.settings = settings
        self.channels = channels
        self.insights = insights
        self.feed = feed

    def context(self, account_id: str) -> IngestContext:
        return IngestContext(
            account_id=account_id,
            settings=self.settings,
            engine=database(),
            channels=self.channels,
            insights=self.insights,
            feed=self.feed,
        )


_writers: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


def account_writer(account_id: str) -> asyncio.Lock:
    """Serializes this process's message writes of one account (across processes: the
    database advisory lock taken by ``ingest.store``)."""
    lock = _writers.get(account_id)
    if lock is None:
        lock = asyncio.Lock()
        _writers[account_id] = lock
    return lock


_fan_ids: dict[tuple[str, str], str] = {}


def known_fan(account_id: str, chat_id: str) -> str | None:
    """The chat's fan id if this process has seen it (a chat's fan never changes)."""
    return _fan_ids.get((account_id, chat_id))


def remember_fan(account_id: str, chat_id: str, fan_id: str | None) -> None:
    if fan_id is None:
        return
    if len(_fan_ids) > _FAN_CACHE_MAX:
        _fan_ids.clear()
    _fan_ids[(account_id, chat_id)] = fan_id


async def matcher_for(account_id: str) -> TopicMatcher:
    """The account's topic rules (built-in plus custom); the built-in ones when the
    custom ones cannot be read now (logged)."""
    try:
        return await topic_rules.matcher_for(account_id)
    except Exception:
        log.exception("topic matcher of %s unavailable; using the default topics", account_id)
        return DEFAULT_MATCHER


async def log_frame(
    account_id: str,
    source: str,
    kind: str,
    *,
    accepted: int,
    duplicates: int,
    updated: int,
    rejected: int,
    frame_bytes: int,
    duration_ms: float | None,
    received_at: datetime | None = None,
) -> None:
    """Write one ``ofca_ingest_log`` line (ids and counts, no text). The rule: one line per
    write a sender waits on (a snapshot frame, a webhook or Chatwoot request), and for an
    extension socket's deltas one line per ``ingest.deltas.LOG_EVERY_SECONDS`` of them and
    at its close (a line per delta cost about as much CPU as storing the delta). Written
    after the data is committed; a failure is logged, never raised."""
    try:
        await IngestLog(
            account_id=account_id,
            source=source,
            kind=kind,
            received_at=received_at or datetime.now(UTC),
            accepted=accepted,
            duplicates=duplicates,
            updated=updated,
            rejected=rejected,
            frame_bytes=frame_bytes,
            duration_ms=duration_ms,
        ).save()
    except Exception as exc:  # the data is stored; its log line is not worth failing it
        log.warning("ingest log of %s not written: %s", account_id, type(exc).__name__)
