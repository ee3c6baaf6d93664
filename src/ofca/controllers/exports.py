"""Streaming exports, and the owner's account data export and account deletion.

Account deletion lives at ``DELETE /api/v1/accounts/{id}/data``: Litestar cannot register a
second controller on ``/api/v1/accounts/{id}`` (owned by the accounts controller), so
``DELETE /api/v1/accounts/{id}`` belongs there, calling ``delete_account_data`` too."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, delete, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK

from ofca.auth import require, scope_account
from ofca.controllers.conversations import conversation_filters
from ofca.domain.auth import Principal
from ofca.persistence.accounts import get_account
from ofca.services.exports import (
    delete_account_data,
    export_account,
    export_messages,
    export_sessions,
)

__all__ = ["AccountDataController", "ExportController"]

log = logging.getLogger(__name__)

NDJSON = "application/x-ndjson"
CSV = "text/csv; charset=utf-8"


class AccountDeleted(msgspec.Struct, kw_only=True):
    status: Literal["deleted"]
    account_id: str
    deleted_rows: dict[str, int]
    """Rows removed per table."""


def _attachment(name: str) -> dict[str, str]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return {"Content-Disposition": f'attachment; filename="{name}-{stamp}"'}


class ExportController(Controller):
    path = "/api/v1/export"
    tags = ["exports"]

    @get("/conversations", summary="Export sessions (CSV or NDJSON, streamed)")
    async def conversations(
        self,
        state: State,
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
            export_sessions(account, filters, state.settings, format),
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

    @delete(
        "/data",
        summary="Delete the account and all its data (owner or admin)",
        status_code=HTTP_200_OK,
    )
    async def delete_account(self, principal: Principal, account_id: str) -> AccountDeleted:
        """Removes the account's rows from every table: chats, messages, insights, topics,
        commands, keys, memberships and the account itself. Irreversible."""
        if principal.kind == "admin":
            require(principal, "admin")
        else:
            scope_account(principal, account_id, "delete")
        if await get_account(account_id) is None:
            raise NotFoundException("No such account")
        deleted = await delete_account_data(account_id)
        return AccountDeleted(status="deleted", account_id=account_id, deleted_rows=deleted)
