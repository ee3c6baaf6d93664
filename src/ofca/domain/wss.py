"""The WebSocket protocol: the single source of both tagged unions and their JSON Schema.

Every frame is ``{"type": <tag>, "payload": {...}}``; the extension's data frames may also
carry a stream sequence number ``seq`` (docs/protocol.md). ``IncomingWssMessage`` is what the
extension (and integrations) send; ``OutgoingWssMessage`` is what ofca sends. The JSON Schema
served at ``/api/v1/schemas/wss`` is generated from these Structs, and the dashboard's
TypeScript types are generated from that schema, so a change here is a protocol change.

Fields added after protocol v1 are optional both ways: incoming ones default to ``None``,
outgoing ones to ``UNSET`` (left out of the JSON), so a v1 client sees exactly the frames
it always saw until it asks for more (``?stream=``, ``seq``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from ofca.domain.insights import AnalyticsSnapshot
from ofca.domain.money import Tier
from ofca.domain.normalize import Direction
from ofca.domain.onlyfans import Chat, Message, PlatformId

__all__ = [
    "PROTOCOL_VERSION",
    "AppendMessage",
    "CacheUpdate",
    "CommandToExecute",
    "ConnectionAck",
    "ConversationNode",
    "EnrichmentResult",
    "ErrorCode",
    "EventBatch",
    "FullSyncResponse",
    "IncomingWssMessage",
    "IngestAck",
    "Keepalive",
    "LiveEvent",
    "MessageView",
    "NewRawMessage",
    "OnlineUsersUpdate",
    "OnlineUsersUpdateOut",
    "OutgoingWssMessage",
    "PendingSnapshot",
    "Seq",
    "SnapshotChunk",
    "SnapshotProgress",
    "StreamId",
    "SystemError",
    "SystemStatus",
    "incoming_decoder",
    "outgoing_encoder",
    "wss_schema",
]

PROTOCOL_VERSION = 1

_FRAME = {"tag_field": "type", "kw_only": True}

MAX_SEQ = 2**53 - 1
"""The largest sequence number: still exact as a JavaScript number."""
Seq = Annotated[int, Meta(ge=1, le=MAX_SEQ)]
"""A frame's position in its stream: 1, 2, 3, ... across reconnects (docs/protocol.md)."""
STREAM_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
StreamId = Annotated[str, Meta(pattern=STREAM_PATTERN)]
"""One extension installation's stream of frames (``?stream=``); ``default`` if not given."""
SnapshotId = Annotated[str, Meta(pattern=STREAM_PATTERN)]
MAX_SNAPSHOT_CHUNKS = 100_000


# --------------------------------------------------------------------------- incoming


class SnapshotChunk(msgspec.Struct, kw_only=True):
    """Which part of a chunked snapshot a ``cache_update`` is. The chunks of one ``id`` are
    staged and applied together, atomically, when the last one has arrived."""

    id: SnapshotId
    chunk: Annotated[int, Meta(ge=0, lt=MAX_SNAPSHOT_CHUNKS)]
    """0-based; chunks are sent in order, each in its own frame with its own ``seq``."""
    chunks: Annotated[int, Meta(ge=1, le=MAX_SNAPSHOT_CHUNKS)]


class CacheUpdatePayload(msgspec.Struct, kw_only=True):
    chats: list[Chat] = []
    messages: list[Message] = []
    snapshot: SnapshotChunk | None = None
    """Set when the snapshot comes in chunks; absent: the frame is the whole snapshot."""


class CacheUpdate(msgspec.Struct, tag="cache_update", **_FRAME):
    """A snapshot of the extension's IndexedDB (or one chunk of it): upserted atomically."""

    payload: CacheUpdatePayload
    seq: Seq | None = None


class NewRawMessagePayload(msgspec.Struct, kw_only=True):
    message: Message


class NewRawMessage(msgspec.Struct, tag="new_raw_message", **_FRAME):
    """One new or edited message (a delta)."""

    payload: NewRawMessagePayload
    seq: Seq | None = None


class KeepalivePayload(msgspec.Struct, kw_only=True):
    timestamp: str | float | None = None


class Keepalive(msgspec.Struct, tag="keepalive", **_FRAME):
    """The MV3 service worker's ~20 s ping; refreshes the connection's liveness."""

    payload: KeepalivePayload = msgspec.field(default_factory=KeepalivePayload)


class OnlineUsersPayload(msgspec.Struct, kw_only=True):
    user_ids: list[PlatformId]
    timestamp: str | float | None = None


class OnlineUsersUpdate(msgspec.Struct, tag="online_users_update", **_FRAME):
    """Fans currently online, relayed to the account's dashboards."""

    payload: OnlineUsersPayload


IncomingWssMessage = CacheUpdate | NewRawMessage | Keepalive | OnlineUsersUpdate

# --------------------------------------------------------------------------- outgoing


class PendingSnapshot(msgspec.Struct, kw_only=True):
    """A chunked snapshot staged in part: send chunk ``next_chunk`` of ``id`` next."""

    id: str
    next_chunk: int
    chunks: int


class ConnectionAckPayload(msgspec.Struct, kw_only=True):
    connection_id: str
    user_id: str
    role: str
    server_time: datetime
    version: str
    protocol: int = PROTOCOL_VERSION
    stream: str | UnsetType = UNSET
    """The extension socket's stream (``?stream=``, else ``default``)."""
    committed_seq: int | UnsetType = UNSET
    """Every frame of the stream up to this seq is durably handled (0: none yet): resend
    from ``committed_seq + 1``."""
    pending_snapshot: PendingSnapshot | UnsetType | None = UNSET
    """The stream's partly staged chunked snapshot, if any."""


class ConnectionAck(msgspec.Struct, tag="connection_ack", **_FRAME):
    payload: ConnectionAckPayload


SystemState = Literal["PROCESSING_SNAPSHOT", "REALTIME", "ERROR"]


class SnapshotProgress(msgspec.Struct, kw_only=True):
    """How much of a chunked snapshot has been staged."""

    id: str
    received: int
    """Chunks staged so far (chunk ``received`` is the next one expected)."""
    chunks: int


class SystemStatusPayload(msgspec.Struct, kw_only=True):
    status: SystemState
    detail: str | None = None
    progress: Annotated[float, Meta(ge=0, le=1)] | None = None
    """Fraction done (0..1) while processing a snapshot or enrichment."""
    snapshot_progress: SnapshotProgress | UnsetType = UNSET
    """While a chunked snapshot arrives: its chunks staged so far."""


class SystemStatus(msgspec.Struct, tag="system_status", **_FRAME):
    payload: SystemStatusPayload


ErrorCode = Literal[
    "json_parse_error",
    "validation_error",
    "unhandled_type",
    "payload_too_large",
    "rate_limited",
    "sequence_gap",
    "storage_unavailable",
    "unauthorized",
    "internal_error",
]


class SystemErrorPayload(msgspec.Struct, kw_only=True):
    errorMessage: str
    code: ErrorCode
    detail: str | None = None
    retryable: bool = False
    seq: int | UnsetType = UNSET
    """The ``seq`` of the frame this error is about (when it had one)."""
    retry_after_ms: int | UnsetType = UNSET
    """``rate_limited``: resend the refused frame (and those after it) after this long."""
    expected_seq: int | UnsetType = UNSET
    """``sequence_gap``: the seq the stream expects next (``committed_seq + 1``)."""


class SystemError(msgspec.Struct, tag="system_error", **_FRAME):
    """A frame could not be handled; the connection stays open unless it must go."""

    payload: SystemErrorPayload


class FanView(msgspec.Struct, kw_only=True):
    id: str
    name: str | None = None
    username: str | None = None
    avatar: str | None = None


class MessageView(msgspec.Struct, kw_only=True):
    """A stored message with its enrichment, as dashboards show it."""

    id: str
    chat_id: str
    text: str | None
    created_at: datetime | None
    changed_at: datetime | None = None
    direction: Direction
    sentiment: float | None = None
    topics: list[str] = []
    is_tip: bool = False
    price: float | None = None
    media_count: int = 0
    enriched: bool = False
    command_id: str | None = None
    is_free: bool = False
    is_opened: bool = False
    """A PPV offer (outbound, priced, not free) with ``is_opened`` true was bought."""


class SessionView(msgspec.Struct, kw_only=True):
    """The chat's latest session (docs/metrics.md "Sessions")."""

    start_at: datetime
    end_at: datetime
    message_count: int
    duration_seconds: float
    silence_seconds: float
    silence_percentage: float | None
    turns: int
    sentiment_score: float | None
    topics: list[str]


class ConversationNode(msgspec.Struct, kw_only=True):
    """One chat as the inbox shows it."""

    chat_id: str
    fan: FanView
    messages: list[MessageView]
    """The latest messages, oldest first (bounded; the REST API pages the rest)."""
    message_count: int
    last_message: MessageView | None = None
    last_activity_at: datetime | None = None
    unanswered_since: datetime | None = None
    """Time of the first inbound message of the open (unanswered) run, if any."""
    sentiment_score: float | None = None
    topics: list[str] = []
    session: SessionView | None = None
    lifetime_spend: float = 0.0
    """The fan's revenue ever: tips and PPV purchases (docs/metrics.md, "Money")."""
    tier: Tier = "free"
    """``whale`` (lifetime spend >= ``OFCA_WHALE_SPEND``), ``spender`` (> 0) or ``free``."""


class FullSyncPayload(msgspec.Struct, kw_only=True):
    conversations: list[ConversationNode]
    analytics: AnalyticsSnapshot | None
    """``None`` only while the account has no analytics to show yet."""
    excluded_messages: int = 0


class FullSyncResponse(msgspec.Struct, tag="full_sync_response", **_FRAME):
    payload: FullSyncPayload


class AppendMessagePayload(msgspec.Struct, kw_only=True):
    """``conversation`` is the chat as it now is: its ``messages`` hold only the message this
    change brought (the same as ``message``; merge it by id into the messages you have),
    every other field is the chat's current summary."""

    conversation: ConversationNode
    message: MessageView
    edited: bool = False


class AppendMessage(msgspec.Struct, tag="append_message", **_FRAME):
    """A new or edited message, with its conversation node."""

    payload: AppendMessagePayload


class AnalyticsUpdate(msgspec.Struct, tag="analytics_update", **_FRAME):
    payload: AnalyticsSnapshot


class MessageEnrichment(msgspec.Struct, kw_only=True):
    message_id: str
    chat_id: str
    sentiment: float | None
    topics: list[str]


class EnrichmentResultPayload(msgspec.Struct, kw_only=True):
    messages: list[MessageEnrichment] = []
    enriched: int = 0
    total: int = 0
    done: bool = True


class EnrichmentResult(msgspec.Struct, tag="enrichment_result", **_FRAME):
    payload: EnrichmentResultPayload


class OnlineUsersUpdateOut(msgspec.Struct, tag="online_users_update", **_FRAME):
    payload: OnlineUsersPayload


class CommandPayload(msgspec.Struct, kw_only=True):
    command_id: str
    action: Literal["send_message"] = "send_message"
    chat_id: str
    text: Annotated[str, Meta(min_length=1, max_length=1000)]
    media_url: str | None = None
    issued_at: datetime


class CommandToExecute(msgspec.Struct, tag="command_to_execute", **_FRAME):
    """An instruction for the extension (send a message in a chat)."""

    payload: CommandPayload


class RejectedItem(msgspec.Struct, kw_only=True):
    message_id: str | None
    reason: str


class IngestAckPayload(msgspec.Struct, kw_only=True):
    frame: Literal["cache_update", "new_raw_message"]
    accepted: int
    """Messages stored for the first time."""
    duplicates: int
    """Messages identical to what was stored: nothing written, nothing broadcast."""
    updated: int
    """Messages whose content changed (edits): updated in place."""
    rejected: int
    chats: int = 0
    rejected_items: list[RejectedItem] = []
    duration_ms: float = 0.0
    first_seq: int | UnsetType = UNSET
    last_seq: int | UnsetType = UNSET
    """The frames this ack covers: ``first_seq..last_seq`` (one ack may cover a run)."""
    committed_seq: int | UnsetType = UNSET
    """Every frame of the stream up to this seq is durably handled."""
    duplicate_frame: bool | UnsetType = UNSET
    """The frame's seq was already committed: answered without doing anything."""
    snapshot_progress: SnapshotProgress | UnsetType = UNSET
    """A chunk of a chunked snapshot was staged (the last chunk's ack has the counts)."""


class IngestAck(msgspec.Struct, tag="ingest_ack", **_FRAME):
    """What a frame changed in storage; sent only after it is committed."""

    payload: IngestAckPayload


LiveEvent = AppendMessage | AnalyticsUpdate | EnrichmentResult | SystemStatus | OnlineUsersUpdateOut
"""The events an account's dashboards and integrations receive live (its channel)."""


class EventBatchPayload(msgspec.Struct, kw_only=True):
    events: list[LiveEvent]
    """In the order they happened; apply them one after the other."""


class EventBatch(msgspec.Struct, tag="event_batch", **_FRAME):
    """Several live events in one frame. Only sockets that ask for it (``?batch=1`` on
    ``/ws/frontend`` and ``/ws/chatwoot``) get it, and only when more than one event is
    waiting for them: a single event still comes as its own frame. It saves a frame per
    event when events come quickly (bursts of deltas, a slow network)."""

    payload: EventBatchPayload


OutgoingWssMessage = (
    ConnectionAck
    | SystemStatus
    | SystemError
    | FullSyncResponse
    | AppendMessage
    | AnalyticsUpdate
    | EnrichmentResult
    | OnlineUsersUpdateOut
    | CommandToExecute
    | IngestAck
    | EventBatch
)


# One decoder/encoder per process: building them is the expensive part.
incoming_decoder: msgspec.json.Decoder[IncomingWssMessage] = msgspec.json.Decoder(
    IncomingWssMessage
)
"""The protocol's incoming union as it is specified (tests, benches). The extension socket
reads frames with ``ofca.domain.frames.decode_frame``, which keeps a snapshot's items raw."""
outgoing_encoder = msgspec.json.Encoder()


def wss_schema(direction: Literal["outgoing", "incoming"] = "outgoing") -> dict[str, Any]:
    """The JSON Schema of one direction's union, generated by msgspec (never by hand)."""
    union: Any = OutgoingWssMessage if direction == "outgoing" else IncomingWssMessage
    title = "OutgoingWssMessage" if direction == "outgoing" else "IncomingWssMessage"
    return msgspec.json.schema(Annotated[union, Meta(title=title)])
