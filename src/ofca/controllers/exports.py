"""Streaming exports, and the owner's account data export.

Account deletion (``DELETE /api/v1/accounts/{id}``) is in the accounts controller, which
owns that path (Litestar cannot split one path over two controllers); it calls
``conversations.erasure.delete_account_data``."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Literal

from litestar import Controller, get
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from litestar.response import Stream

from ofca.access.principals import scope_account
from ofca.controllers.conversations import conversation_filters
from ofca.conversations.exports import (
    export_account,
    export_messages,
    export_sessions,
)
from ofca.domain.auth import Principal
from ofca.persistence.accounts import get_account
from ofca.settings import Settings

__all__ = ["AccountDataController", "ExportController"]

log = logging.getLogger(__name__)

NDJSON = "application/x-ndjson"
CSV = "text/csv; charset=utf-8"


def _attachment(name: str) -> dict[str, str]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return {"Content-Disposition": f'attachment; filename="{name}-{stamp}"'}


class ExportController(Controller):
    path = "/api/v1/export"
    tags = ["exports"]

    @get("/conversations", summary="Export sessions (CSV or NDJSON, streamed)")
    async def conversations(
        self,
        settings: Settings,
        principal: Principal,
        account_id: str | None = None,
        format: Literal["csv", "ndjson"] = "csv",
        status: Literal["open", "answered"] | None = None,
        topic: Annotated[str | None, Parameter(max_length=64)] = None,
        fan: Annotated[str | None, Parameter(max_length=200)] = None,
        q: Annotated[str | None, Parameter(max_length=500)] = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Stream:
        """One row per session with every METRICS.md session value. Filters as in
        ``GET /api/v1/conversations``; a session is in ``[start, end)`` by its first message
        and ``topic`` keeps only sessions having the topic."""
        account = scope_account(principal, account_id, "read")
        filters = conversation_filters(status, topic, fan, q, start, end)
        extension = "csv" if format == "csv" else "ndjson"
        return Stream(
            export_sessions(account, filters, settings, format),
            media_type=CSV if format == "csv" else NDJSON,
            headers=_attachment(f"conversations.{extension}"),
        )

    @get("/messages", summary="Export messages with enrichment (NDJSON, streamed)")
    async def messages(
        self,
        principal: Principal,
        account_id: str | None = None,
        format: Literal["ndjson"] = "ndjson",
        status: Literal["open", "answered"] | None = None,
        topic: Annotated[str | None, Parameter(max_length=64)] = None,
        fan: Annotated[str | None, Parameter(max_length=200)] = None,
        q: Annotated[str | None, Parameter(max_length=500)] = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Stream:
        """Messages of the chats matching the list filters, in chat order; with
        ``start``/``end`` only messages created in the window, with ``q`` only messages
        containing it."""
        account = scope_account(principal, account_id, "read")
        filters = conversation_filters(status, topic, fan, q, start, end)
        return Stream(
            export_messages(account, filters),
            media_type=NDJSON,
            headers=_attachment("messages.ndjson"),
        )


class AccountDataController(Controller):
    path = "/api/v1/accounts/{account_id:str}"
    tags = ["accounts"]

    @get("/export", summary="Everything stored for the account (owner; NDJSON, streamed)")
    async def export(self, principal: Principal, account_id: str) -> Stream:
        """One ``{"table": ..., "row": {...}}`` object per line, for every table holding the
        account's data. Credentials (key hashes, secrets) are never exported."""
        scope_account(principal, account_id, "manage")
        if await get_account(account_id) is None:
            raise NotFoundException("No such account")
        log.info("account export started account=%s", account_id)
        return Stream(
            export_account(account_id),
            media_type=NDJSON,
            headers=_attachment(f"ofca-account-{account_id}.ndjson"),
        )
