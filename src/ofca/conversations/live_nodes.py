"""The conversation node of an ``append_message``: the chat's summary from one query, and
the message the change brought (from the record just written, never re-read).

Every dashboard of the account receives every node, so a node carries only what changed
(``ConversationNode.messages``: the new or edited message) plus the chat's current
summary (``conversations.nodes``: the same statement and builder as the full sync's
nodes; ``tests/ingest/test_live_nodes.py`` holds both to the REST detail's values).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from piccolo.engine.base import Engine

from ofca.conversations.nodes import chat_summaries, summarized_node
from ofca.domain.triage import DEFAULT_TRIAGE, Triage
from ofca.domain.wss import (
    AppendMessage,
    AppendMessagePayload,
    ConversationNode,
    MessageView,
    outgoing_encoder,
)
from ofca.persistence.sql import database

__all__ = ["LiveFeed", "append_frames", "live_nodes"]


async def live_nodes(
    engine: Engine[Any],
    account_id: str,
    chat_ids: Sequence[str],
    whale_spend: float = DEFAULT_TRIAGE.whale_spend,
) -> dict[str, ConversationNode]:
    """The current nodes of these chats, read after their batch is committed, with empty
    ``messages`` (the caller puts in the messages it just wrote). A chat deleted meanwhile
    has none."""
    if not chat_ids:
        return {}
    rows = await chat_summaries(engine, account_id, chat_ids)
    return {row["chat_id"]: summarized_node(row, [], whale_spend=whale_spend) for row in rows}


def append_frames(
    nodes: Mapping[str, ConversationNode], changes: Sequence[tuple[MessageView, bool]]
) -> list[bytes]:
    """Encoded ``append_message`` per ``(message, edited)``, in order, each with its chat's
    node holding that message (a chat without a node, deleted meanwhile, gets none)."""
    return [
        outgoing_encoder.encode(
            AppendMessage(
                payload=AppendMessagePayload(
                    conversation=msgspec.structs.replace(nodes[view.chat_id], messages=[view]),
                    message=view,
                    edited=edited,
                )
            )
        )
        for view, edited in changes
        if view.chat_id in nodes
    ]


class LiveFeed:
    """What ingest publishes for stored messages (``ingest.context.ConversationFeed``)."""

    def __init__(self, triage: Triage = DEFAULT_TRIAGE) -> None:
        self._whale_spend = triage.whale_spend

    async def append_frames(
        self, account_id: str, changes: Sequence[tuple[MessageView, bool]]
    ) -> list[bytes]:
        chat_ids = sorted({view.chat_id for view, _ in changes})
        nodes = await live_nodes(database(), account_id, chat_ids, self._whale_spend)
        return append_frames(nodes, changes)
