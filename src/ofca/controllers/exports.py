"""Streaming exports, and the owner's account data export.

Account deletion (``DELETE /api/v1/accounts/{id}``) is in the accounts controller, which
owns that path (Litestar cannot split one path over two controllers); it calls
``conversations.erasure.delete_account_data``."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Literal

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Stream

from ofca.access.principals import scope_account
from ofca.controllers.conversations import (
    EmailParam,
    StatusParam,
    conversation_filters,
    list_scope,
)
from ofca.controllers.params import (
    AccountParam,
    ChatParam,
    ChatterParam,
    EndParam,
    StartParam,
    TimeRangeParam,
    TopicParam,
    money_filters,
    request_window,
)
from ofca.conversations.exports import (
    export_account,
    export_messages,
    export_sessions,
)
from ofca.domain.auth import Principal
from ofca.errors import field_error
from ofca.insights.money import export_chatters
from ofca.persistence.accounts import get_account
from ofca.settings import Settings

__all__ = ["AccountDataController", "ExportController"]

log = logging.getLogger(__name__)

NDJSON = "application/x-ndjson"
CSV = "text/csv"
"""Litestar adds ``; charset=utf-8`` to ``text/*`` types itself (once)."""
EXPORT_FORMATS = ("csv", "ndjson")


def _attachment(stem: str, extension: str) -> dict[str, str]:
    """``attachment; filename="conversations-20261204T135937Z.csv"``: the stamp before the
    extension, so the file opens with the right program."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in stem)
    return {"Content-Disposition": f'attachment; filename="{safe}-{stamp}.{extension}"'}


def _export_format(value: str, allowed: tuple[str, ...]) -> str:
    """A bad ``format`` is a 422 naming it (Litestar's enum check would be a vague 400)."""
    if value not in allowed:
        raise field_error("format", f"format must be one of: {', '.join(allowed)}", source="query")
    return value


class ExportController(Controller):
    path = "/api/v1/export"
    tags = ["exports"]

    @get("/conversations", summary="Export sessions (CSV or NDJSON, streamed)")
    async def conversations(
        self,
        settings: NamedDependency[Settings],
        principal: NamedDependency[Principal],
        account_id: FromQuery[str | None] = None,
        format: Annotated[
            str,
            QueryParameter(
                description="csv or ndjson", schema_extra={"enum": list(EXPORT_FORMATS)}
            ),
        ] = "csv",
        status: StatusParam = None,
        topic: Annotated[str | None, QueryParameter(max_length=64)] = None,
        fan: Annotated[str | None, QueryParameter(max_length=200)] = None,
        q: Annotated[str | None, QueryParameter(max_length=500)] = None,
        email_id: EmailParam = None,
        start: FromQuery[datetime | None] = None,
        end: FromQuery[datetime | None] = None,
        time_range: TimeRangeParam = None,
    ) -> Stream:
        """One row per session with every session value of docs/metrics.md. Filters as in
        ``GET /api/v1/conversations``; a session is in ``[start, end)`` by its first message
        and ``topic`` keeps only sessions having the topic."""
        account, transcript_account = await list_scope(principal, account_id)
        chosen: Literal["csv", "ndjson"] = (
            "csv" if _export_format(format, EXPORT_FORMATS) == "csv" else "ndjson"
        )
        filters = conversation_filters(
            status,
            topic,
            fan,
            q,
            start,
            end,
            time_range=time_range,
            email_id=email_id,
            transcript_account=transcript_account,
        )
        return Stream(
            export_sessions(account, filters, settings, chosen),
            media_type=CSV if chosen == "csv" else NDJSON,
            headers=_attachment("conversations", chosen),
        )

    @get("/messages", summary="Export messages with enrichment (NDJSON, streamed)")
    async def messages(
        self,
        principal: NamedDependency[Principal],
        account_id: FromQuery[str | None] = None,
        format: Annotated[
            str, QueryParameter(description="ndjson", schema_extra={"enum": ["ndjson"]})
        ] = "ndjson",
        status: StatusParam = None,
        topic: Annotated[str | None, QueryParameter(max_length=64)] = None,
        fan: Annotated[str | None, QueryParameter(max_length=200)] = None,
        q: Annotated[str | None, QueryParameter(max_length=500)] = None,
        email_id: EmailParam = None,
        start: FromQuery[datetime | None] = None,
        end: FromQuery[datetime | None] = None,
        time_range: TimeRangeParam = None,
    ) -> Stream:
        """Messages of the chats matching the list filters, in chat order; with
        ``start``/``end`` only messages created in the window, with ``q`` only messages
        containing it."""
        account, transcript_account = await list_scope(principal, account_id)
        _export_format(format, ("ndjson",))
        filters = conversation_filters(
            status,
            topic,
            fan,
            q,
            start,
            end,
            time_range=time_range,
            email_id=email_id,
            transcript_account=transcript_account,
        )
        return Stream(
            export_messages(account, filters),
            media_type=NDJSON,
            headers=_attachment("messages", "ndjson"),
        )

    @get("/chatters", summary="Export the chatters leaderboard of a window (CSV or NDJSON)")
    async def chatters(
        self,
        settings: NamedDependency[Settings],
        principal: NamedDependency[Principal],
        account_id: AccountParam = None,
        format: Annotated[
            str,
            QueryParameter(
                description="csv or ndjson", schema_extra={"enum": list(EXPORT_FORMATS)}
            ),
        ] = "csv",
        start: StartParam = None,
        end: EndParam = None,
        time_range: TimeRangeParam = None,
        topic: TopicParam = None,
        chat_id: ChatParam = None,
        chatter: ChatterParam = None,
    ) -> Stream:
        """The rows of ``GET /api/v1/insights/chatters`` for the same parameters (CSV: the
        reply time flattened into ``reply_*`` columns)."""
        account = scope_account(principal, account_id, "read")
        chosen: Literal["csv", "ndjson"] = (
            "csv" if _export_format(format, EXPORT_FORMATS) == "csv" else "ndjson"
        )
        window = request_window(start, end, time_range, settings)
        return Stream(
            export_chatters(
                account, window, money_filters(topic, chat_id, chatter), settings, chosen
            ),
            media_type=CSV if chosen == "csv" else NDJSON,
            headers=_attachment("chatters", chosen),
        )


class AccountDataController(Controller):
    path = "/api/v1/accounts/{account_id:str}"
    tags = ["accounts"]

    @get("/export", summary="Everything stored for the account (owner; NDJSON, streamed)")
    async def export(
        self, principal: NamedDependency[Principal], account_id: FromPath[str]
    ) -> Stream:
        """One ``{"table": ..., "row": {...}}`` object per line, for every table holding the
        account's data. Credentials (key hashes, secrets) are never exported."""
        scope_account(principal, account_id, "manage")
        if await get_account(account_id) is None:
            raise NotFoundException("No such account")
        log.info("account export started account=%s", account_id)
        return Stream(
            export_account(account_id),
            media_type=NDJSON,
            headers=_attachment(f"ofca-account-{account_id}", "ndjson"),
        )
