"""Piccolo tables. The same definitions serve SQLite and Postgres.

Times are stored as timezone-aware timestamps (UTC). Ids from the platform are strings.
Every row that holds chat data carries ``account_id`` so every query can be scoped to one
account, and every such table is indexed by it first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from piccolo.columns import (
    JSON,
    BigInt,
    Boolean,
    DoublePrecision,
    Integer,
    Real,
    Serial,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

__all__ = [
    "ALL_TABLES",
    "Account",
    "ActivityHourRow",
    "ActivityRow",
    "ActivityTopicRow",
    "ApiKey",
    "ChatFirstRow",
    "ChatRow",
    "ChatSpendRow",
    "ChatTallyRow",
    "ChatterDayRow",
    "ChatterDayTotalRow",
    "ChatwootToken",
    "CommandRow",
    "CustomTopic",
    "ExtensionPresence",
    "FanDayRow",
    "IngestLog",
    "IngestStreamRow",
    "InstanceSetting",
    "LoginSession",
    "Membership",
    "MessageRow",
    "ReplyBucketDayRow",
    "ReplyRow",
    "ReplyTopicRow",
    "SessionChatterRow",
    "SessionDayRow",
    "SessionHourRow",
    "SessionRow",
    "SessionTopicRow",
    "SnapshotChunkRow",
    "TipCreditRow",
    "TopicPairDayRow",
    "TopicPairHourRow",
    "TopicSet",
    "User",
]


class Account(Table, tablename="ofca_account"):
    """A creator account; ``account_id`` is the ``user_id`` of the WebSocket paths."""

    if TYPE_CHECKING:
        # Piccolo adds this primary key itself; declared for type checkers only (a real
        # declaration would change which columns Piccolo treats as defaulted on insert).
        id = Serial(primary_key=True)

    account_id = Varchar(length=200, unique=True, index=True)
    name = Varchar(length=200, default="")
    created_at = Timestamptz()
    webhook_secret = Varchar(length=200, null=True, default=None)


class ApiKey(Table, tablename="ofca_api_key"):
    """An API key, stored as the SHA-256 of the key (keys are random, 256-bit)."""

    if TYPE_CHECKING:
        # Piccolo adds this primary key itself; declared for type checkers only (a real
        # declaration would change which columns Piccolo treats as defaulted on insert).
        id = Serial(primary_key=True)

    key_hash = Varchar(length=64, unique=True, index=True)
    prefix = Varchar(length=16)
    """The first characters of the key, to recognise it in listings."""
    account_id = Varchar(length=200, null=True, default=None, index=True)
    """``None`` only for admin keys."""
    role = Varchar(length=20)
    name = Varchar(length=200, default="")
    created_at = Timestamptz()
    expires_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    last_used_at = Timestamptz(null=True, default=None)


class ChatRow(Table, tablename="ofca_chat"):
    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    fan_id = Varchar(length=200, null=True, default=None)
    fan_name = Text(null=True, default=None)
    fan_username = Text(null=True, default=None)
    fan_avatar = Text(null=True, default=None)
    source = Varchar(length=20, default="onlyfans")
    raw = Text(null=True, default=None)  # type: ignore[assignment]  # shadows Table.raw (unused on this table)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class MessageRow(Table, tablename="ofca_message"):
    account_id = Varchar(length=200)
    message_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    direction = Varchar(length=8)
    """``inbound``, ``outbound`` or ``unknown`` (docs/metrics.md "Messages")."""
    created_at = Timestamptz(null=True, default=None)
    """``None`` when the platform's time was unusable: stored, excluded from metrics."""
    changed_at = Timestamptz(null=True, default=None)
    text = Text(null=True, default=None)
    """The cleaned text both enrichers see (docs/metrics.md "Text, sentiment and topics")."""
    raw = Text()  # type: ignore[assignment]  # shadows Table.raw (unused on this table)
    """The message's JSON exactly as received."""
    content_hash = Varchar(length=64)
    """Hash of ``raw``: a resend with the same hash is a duplicate, another hash an edit."""
    from_user_id = Varchar(length=200, null=True, default=None)
    is_tip = Boolean(default=False)
    price = DoublePrecision(null=True, default=None)
    media_count = Integer(default=0)
    source = Varchar(length=20, default="onlyfans")
    sentiment = DoublePrecision(null=True, default=None)
    topics = JSON(default="[]")
    enriched = Boolean(default=False)
    command_id = Varchar(length=64, null=True, default=None)
    ingested_at = Timestamptz()
    version = BigInt(default=1)
    """Bumped on every edit."""
    is_free = Boolean(default=False)
    is_opened = Boolean(default=False)
    """Money (docs/metrics.md "Money"); m0010 added them, filled from ``raw``."""
    operator_id = Varchar(length=200, null=True, default=None)
    operator_name = Text(null=True, default=None)
    """The extension's ``operator``: the chatter of an outbound message not sent by a
    dashboard command."""
    chatter = Varchar(length=250, null=True, default=None)
    """An outbound message's chatter (docs/metrics.md "Chatters"; m0014): the command's
    user or key once linked, else ``ext:<operator>``, else ``unassigned``."""


class IngestLog(Table, tablename="ofca_ingest_log"):
    """One row per ingested snapshot, webhook or Chatwoot request, and per stretch of an
    extension socket's deltas (``ingest.context.log_frame``): counts and timings, never
    text."""

    account_id = Varchar(length=200, index=True)
    source = Varchar(length=20)
    kind = Varchar(length=40)
    received_at = Timestamptz()
    accepted = Integer(default=0)
    duplicates = Integer(default=0)
    updated = Integer(default=0)
    rejected = Integer(default=0)
    frame_bytes = BigInt(default=0)
    duration_ms = Real(default=0)


class InstanceSetting(Table, tablename="ofca_instance_setting"):
    """Values every process must agree on (e.g. the generated signing key)."""

    name = Varchar(length=100, unique=True)
    value = Text()


class ChatwootToken(Table, tablename="ofca_chatwoot_token"):
    """An account's Chatwoot webhook token, stored as SHA-256 (shown once when generated)."""

    if TYPE_CHECKING:
        # Piccolo adds this primary key itself; declared for type checkers only (a real
        # declaration would change which columns Piccolo treats as defaulted on insert).
        id = Serial(primary_key=True)

    account_id = Varchar(length=200, unique=True)
    token_hash = Varchar(length=64, unique=True)
    prefix = Varchar(length=16)
    created_at = Timestamptz()
    signing_secret = Varchar(length=200, null=True, default=None)
    """The secret of the webhook in Chatwoot (v4.11.2+ signs deliveries); when set, every
    delivery must carry a valid ``X-Chatwoot-Signature``."""


class CommandRow(Table, tablename="ofca_command"):
    """A ``command_to_execute`` sent to the extension; linked to the message it produced."""

    if TYPE_CHECKING:
        # Piccolo adds this primary key itself; declared for type checkers only (a real
        # declaration would change which columns Piccolo treats as defaulted on insert).
        id = Serial(primary_key=True)

    command_id = Varchar(length=64, unique=True)
    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    text_hash = Varchar(length=64)
    """SHA-256 of the cleaned text: the command's text itself is not kept twice."""
    media_url = Text(null=True, default=None)
    created_at = Timestamptz()
    linked_message_id = Varchar(length=200, null=True, default=None)
    linked_at = Timestamptz(null=True, default=None)
    issued_by = Varchar(length=250, null=True, default=None)
    """The chatter who issued it: ``user:<user id>`` or ``key:<key id>`` (m0010)."""


class ExtensionPresence(Table, tablename="ofca_extension_presence"):
    """Connected extension sockets when Redis is not configured (else Redis keys with TTL)."""

    if TYPE_CHECKING:
        # Piccolo adds this primary key itself; declared for type checkers only (a real
        # declaration would change which columns Piccolo treats as defaulted on insert).
        id = Serial(primary_key=True)

    account_id = Varchar(length=200)
    connection_id = Varchar(length=100)
    expires_at = Timestamptz()


class User(Table, tablename="ofca_user"):
    """A human who logs in to the dashboard (m0004)."""

    user_id = Varchar(length=40, unique=True, index=True)
    email = Varchar(length=320, unique=True, index=True)
    """Stored lower-cased."""
    name = Varchar(length=200, default="")
    password_hash = Varchar(length=300)
    """``scrypt$n$r$p$salt$hash`` (see ofca.domain.passwords)."""
    created_at = Timestamptz()
    disabled_at = Timestamptz(null=True, default=None)


class Membership(Table, tablename="ofca_membership"):
    """A user's role in one account (``owner`` or ``dashboard``); unique per user+account."""

    if TYPE_CHECKING:
        # Piccolo adds this primary key itself; declared for type checkers only (a real
        # declaration would change which columns Piccolo treats as defaulted on insert).
        id = Serial(primary_key=True)

    user_id = Varchar(length=40, index=True)
    account_id = Varchar(length=200, index=True)
    role = Varchar(length=20)
    created_at = Timestamptz()


class LoginSession(Table, tablename="ofca_login_session"):
    """A login; the token carries the session id, stored here only as its SHA-256."""

    if TYPE_CHECKING:
        # Piccolo adds this primary key itself; declared for type checkers only (a real
        # declaration would change which columns Piccolo treats as defaulted on insert).
        id = Serial(primary_key=True)

    session_hash = Varchar(length=64, unique=True, index=True)
    user_id = Varchar(length=40, index=True)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)


class TopicSet(Table, tablename="ofca_topic_set"):
    """Per-account version of the custom topic set, bumped on every change; processes key
    their cached topic matcher by it."""

    account_id = Varchar(length=200, unique=True)
    version = BigInt(default=0)
    updated_at = Timestamptz()


class CustomTopic(Table, tablename="ofca_custom_topic"):
    """An account's own topic rule (ids never collide with the built-in taxonomy)."""

    account_id = Varchar(length=200)
    topic_id = Varchar(length=64)
    label = Varchar(length=200)
    keywords = JSON(default="[]")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class SessionRow(Table, tablename="ofca_session"):
    """One session of a chat (docs/metrics.md "Sessions"), recomputed per chat at ingest."""

    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    start_at = Timestamptz()
    end_at = Timestamptz()
    first_message_id = Varchar(length=200)
    last_message_id = Varchar(length=200)
    message_count = Integer()
    inbound_count = Integer()
    outbound_count = Integer()
    duration_seconds = DoublePrecision()
    silence_seconds = DoublePrecision()
    silence_percentage = DoublePrecision(null=True, default=None)
    turns = Integer()
    sentiment_sum = DoublePrecision()
    sentiment_count = Integer()
    sentiment_score = DoublePrecision(null=True, default=None)
    topics = JSON(default="[]")
    revenue = DoublePrecision(default=0.0)
    """Tips and PPV purchases of its own messages (m0010)."""


class SessionTopicRow(Table, tablename="ofca_session_topic"):
    """One (session, topic) pair with the session's numbers, for index-driven topic rows."""

    account_id = Varchar(length=200)
    topic = Varchar(length=64)
    start_at = Timestamptz()
    end_at = Timestamptz()
    chat_id = Varchar(length=200)
    message_count = Integer()
    duration_seconds = DoublePrecision()
    silence_percentage = DoublePrecision(null=True, default=None)
    turns = Integer()
    sentiment_score = DoublePrecision(null=True, default=None)
    revenue = DoublePrecision(default=0.0)


class ChatSpendRow(Table, tablename="ofca_chat_spend"):
    """A chat's money (docs/metrics.md "Fans"; m0015), kept by the refresh for each chat
    with revenue: lifetime spend (rounded to 9 places), tips, PPV revenue, last paid."""

    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    lifetime_spend = DoublePrecision()
    tips_amount = DoublePrecision()
    ppv_revenue = DoublePrecision()
    last_paid_at = Timestamptz()


class TipCreditRow(Table, tablename="ofca_tip_credit"):
    """A timed tip's credit candidate (docs/metrics.md "Chatters"; m0016), kept by the
    refresh: the chatter and time of its chat's latest outbound message before it (both
    NULL when there is none); the tip credit hours are compared when read."""

    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    message_id = Varchar(length=200)
    created_at = Timestamptz()
    credit_chatter = Varchar(length=250, null=True, default=None)
    credit_at = Timestamptz(null=True, default=None)


class ChatterDayRow(Table, tablename="ofca_chatter_day"):
    """A day a chatter sent to a chat (docs/metrics.md "Chatters"; m0017): how many
    messages, and the chatter's previous day in that chat."""

    account_id = Varchar(length=200)
    chatter = Varchar(length=250)
    chat_id = Varchar(length=200)
    day_start = Timestamptz()
    previous_day = Timestamptz(null=True, default=None)
    messages = Integer()


class ChatTallyRow(Table, tablename="ofca_chat_tally"):
    """Part of a chat's tally (m0026, Postgres only): what one write statement changed of
    its message count, fan sentiment and spend, added by triggers on ``ofca_message``; the
    chat's tally is the sum of its rows (``persistence.chat_tally``)."""

    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    messages = BigInt()
    fan_sentiment_sum = DoublePrecision()
    fan_sentiment_count = BigInt()
    spend = DoublePrecision()


class ChatterDayTotalRow(Table, tablename="ofca_chatter_day_total"):
    """Per account, chatter and UTC day: the chatter days of that day summed (``chats``,
    ``messages``) and how many chatter days name it as their ``previous_day``
    (``followed``); kept by delta at refresh (m0023). A window's fans are its days'
    ``chats`` less its days' ``followed``, plus the rows after it that follow a day in it."""

    account_id = Varchar(length=200)
    chatter = Varchar(length=250)
    day_start = Timestamptz()
    chats = Integer()
    messages = Integer()
    followed = Integer()


class ReplyBucketDayRow(Table, tablename="ofca_reply_bucket_day"):
    """Per account, chatter (``unassigned`` for none), UTC day of the run's first fan
    message and reply-time bucket: the answered runs and their seconds summed; kept by
    delta at refresh (m0024). The exact median and p90 read only the runs of the bucket
    holding them."""

    account_id = Varchar(length=200)
    chatter = Varchar(length=250)
    day_start = Timestamptz()
    bucket = SmallInt()
    answered = Integer()
    micros = BigInt()
    """The runs' reply times summed in whole microseconds (exact under adds and takes)."""


class SessionChatterRow(Table, tablename="ofca_session_chatter"):
    """A chatter who sent a message in a session (m0014): the sessions a chatter filter
    keeps for ``revenue_per_session``."""

    account_id = Varchar(length=200)
    chatter = Varchar(length=250)
    start_at = Timestamptz()
    chat_id = Varchar(length=200)


class ReplyRow(Table, tablename="ofca_reply"):
    """One run of fan messages and its reply (``reply_seconds`` None: unanswered)."""

    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    first_inbound_at = Timestamptz()
    first_inbound_message_id = Varchar(length=200)
    replied_at = Timestamptz(null=True, default=None)
    reply_seconds = DoublePrecision(null=True, default=None)
    session_start_at = Timestamptz()
    """Start of the session holding the run's first inbound message (topic filter)."""
    reply_message_id = Varchar(length=200, null=True, default=None)
    """The outbound message that answered the run (its chatter's reply; m0010)."""
    chatter = Varchar(length=250, null=True, default=None)
    """The chatter of ``reply_message_id`` (m0014)."""
    reply_bucket = SmallInt(null=True, default=None)
    """``domain.aggregates.reply_bucket`` of ``reply_seconds`` (m0024)."""


class QuarterCounts:
    """Counts (all, inbound, outbound messages) before minute 15, 30 and 45 of an hour
    (m0025), on ``ActivityRow`` and ``ActivityHourRow``."""

    messages_15 = Integer(default=0)
    inbound_15 = Integer(default=0)
    outbound_15 = Integer(default=0)
    messages_30 = Integer(default=0)
    inbound_30 = Integer(default=0)
    outbound_30 = Integer(default=0)
    messages_45 = Integer(default=0)
    inbound_45 = Integer(default=0)
    outbound_45 = Integer(default=0)


class ActivityRow(QuarterCounts, Table, tablename="ofca_activity"):
    """Messages of one session within one UTC hour: counts and inbound sentiment parts;
    ``*_15``, ``*_30``, ``*_45``: the counts before that minute of the hour (m0025), so
    zones whose hours start at a quarter past UTC hours split an hour without messages."""

    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    session_start_at = Timestamptz()
    hour_start = Timestamptz()
    messages = Integer()
    inbound = Integer()
    outbound = Integer()
    sentiment_sum = DoublePrecision()
    sentiment_count = Integer()


class ChatFirstRow(Table, tablename="ofca_chat_first"):
    """Time of a chat's first message ever (``new_fans``)."""

    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    first_at = Timestamptz()


class SessionSums:
    """Sums of a set of sessions (``revenue`` since m0021), the values of the session
    rollups: ``SessionHourRow``, ``SessionDayRow`` and the topic pairs'."""

    sessions = Integer()
    messages = Integer()
    duration = DoublePrecision()
    silence = DoublePrecision()
    silence_count = Integer()
    turns = Integer()
    sentiment = DoublePrecision()
    sentiment_count = Integer()
    revenue = DoublePrecision(default=0.0)


class SessionHourRow(SessionSums, Table, tablename="ofca_session_hour"):
    """Per account, topic ('' = all sessions) and UTC hour of session start: session sums
    (kept by delta at refresh; ``revenue`` since m0021)."""

    account_id = Varchar(length=200)
    topic = Varchar(length=64)
    hour_start = Timestamptz()


class ActivityHourRow(QuarterCounts, Table, tablename="ofca_activity_hour"):
    """Per account and UTC hour: message counts and inbound sentiment parts (by delta),
    with ``ActivityRow``'s counts before a quarter of the hour (m0025)."""

    account_id = Varchar(length=200)
    hour_start = Timestamptz()
    messages = Integer()
    inbound = Integer()
    outbound = Integer()
    sentiment_sum = DoublePrecision()
    sentiment_count = Integer()


class SessionDayRow(SessionSums, Table, tablename="ofca_session_day"):
    """``SessionHourRow`` per UTC day (kept by delta at refresh)."""

    account_id = Varchar(length=200)
    topic = Varchar(length=64)
    day_start = Timestamptz()


class TopicPairHourRow(SessionSums, Table, tablename="ofca_topic_pair_hour"):
    """Per account, pair of topics and UTC hour of session start: ``SessionHourRow`` of
    the sessions holding both ``with_topic`` and ``topic`` (the topics insight under a
    topic filter; kept by delta at refresh, m0022)."""

    account_id = Varchar(length=200)
    with_topic = Varchar(length=64)
    topic = Varchar(length=64)
    hour_start = Timestamptz()


class TopicPairDayRow(SessionSums, Table, tablename="ofca_topic_pair_day"):
    """``TopicPairHourRow`` per UTC day (kept by delta at refresh, m0022)."""

    account_id = Varchar(length=200)
    with_topic = Varchar(length=64)
    topic = Varchar(length=64)
    day_start = Timestamptz()


class FanDayRow(Table, tablename="ofca_fan_day"):
    """A UTC day on which a chat has a fan message, with the chat's previous such day
    (``active_fans`` counts each chat once: at its first day inside the window)."""

    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    day_start = Timestamptz()
    previous_day = Timestamptz(null=True, default=None)


class ReplyTopicRow(Table, tablename="ofca_reply_topic"):
    """A reply run once per topic of the session holding its first fan message."""

    account_id = Varchar(length=200)
    topic = Varchar(length=64)
    chat_id = Varchar(length=200)
    first_inbound_at = Timestamptz()
    reply_seconds = DoublePrecision(null=True, default=None)
    chatter = Varchar(length=250, null=True, default=None)
    """The chatter of the run's reply, as in ``ReplyRow`` (m0020)."""


class ActivityTopicRow(Table, tablename="ofca_activity_topic"):
    """A session's hourly activity (fan sentiment parts and message counts) once per topic
    of the session (m0008 added the counts)."""

    account_id = Varchar(length=200)
    topic = Varchar(length=64)
    chat_id = Varchar(length=200)
    hour_start = Timestamptz()
    sentiment_sum = DoublePrecision()
    sentiment_count = Integer()
    messages = Integer(default=0)
    inbound = Integer(default=0)
    outbound = Integer(default=0)


class IngestStreamRow(Table, tablename="ofca_ingest_stream"):
    """One extension stream (docs/protocol.md): every frame up to ``committed_seq`` is
    durably handled; ``writer`` is the connection that may write it now (a newer one
    supersedes it); ``snapshot_*`` describe its partly staged chunked snapshot."""

    account_id = Varchar(length=200)
    stream = Varchar(length=64)
    committed_seq = BigInt(default=0)
    writer = Varchar(length=64, null=True, default=None)
    writer_since = Timestamptz(null=True, default=None)
    snapshot_id = Varchar(length=64, null=True, default=None)
    snapshot_chunks = Integer(null=True, default=None)
    snapshot_next_chunk = Integer(null=True, default=None)
    """Chunks staged so far: the next one expected."""
    snapshot_expires_at = Timestamptz(null=True, default=None)
    """The staged chunks are dropped when no chunk came for ``OFCA_SNAPSHOT_TTL_SECONDS``."""
    updated_at = Timestamptz()


class SnapshotChunkRow(Table, tablename="ofca_snapshot_chunk"):
    """A staged chunk of a chunked snapshot: its ``cache_update`` payload as received,
    invisible to every reader until the last chunk applies the whole snapshot."""

    account_id = Varchar(length=200)
    stream = Varchar(length=64)
    snapshot_id = Varchar(length=64)
    chunk = Integer()
    seq = BigInt()
    data = Text()
    received_at = Timestamptz()


ALL_TABLES: tuple[type[Table], ...] = (
    Account,
    ApiKey,
    ChatRow,
    MessageRow,
    IngestLog,
    InstanceSetting,
    User,
    Membership,
    LoginSession,
    ChatwootToken,
    CommandRow,
    ExtensionPresence,
    TopicSet,
    CustomTopic,
    SessionRow,
    SessionTopicRow,
    ReplyRow,
    ActivityRow,
    ChatFirstRow,
    SessionHourRow,
    ActivityHourRow,
    SessionDayRow,
    FanDayRow,
    ReplyTopicRow,
    ActivityTopicRow,
    IngestStreamRow,
    SnapshotChunkRow,
    SessionChatterRow,
    ChatSpendRow,
    TipCreditRow,
    ChatterDayRow,
    ChatterDayTotalRow,
    ChatTallyRow,
    ReplyBucketDayRow,
    TopicPairHourRow,
    TopicPairDayRow,
)


class RefreshDueRow(Table, tablename="ofca_refresh_due"):
    """A chat whose insight rows are due: from ``since`` on, or ``whole``. Written with the
    messages that made it due; removed by the refresh that handled exactly this
    ``version`` (a newer mark stays)."""

    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    since = Timestamptz(null=True, default=None)
    whole = Boolean(default=False)
    version = BigInt(default=1)
    marked_at = Timestamptz()
