"""The conversations API: list, status summary, message pages, deletion and commands.

Every route is scoped to one account with ``scope_account``: a chat of another account is
a 404 (its existence is not revealed), another account named explicitly is a 403.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, delete, get, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_409_CONFLICT
from msgspec import Meta

from ofca.access.principals import scope_account
from ofca.channels.plugin import OfcaChannelsPlugin
from ofca.conversations.erasure import delete_chat
from ofca.conversations.queries import (
    ConversationDetail,
    ConversationFilters,
    ConversationPage,
    CursorError,
    MessagePage,
    chat_exists,
    conversation_detail,
    list_conversations,
    message_page,
)
from ofca.domain.auth import Principal
from ofca.errors import field_error
from ofca.ingest.commands import ExtensionCommands
from ofca.insights.scheduler import InsightsScheduler
from ofca.settings import Settings

__all__ = ["ConversationsController", "conversation_filters"]

MAX_LIMIT = 100


class DeleteResult(msgspec.Struct, kw_only=True):
    status: Literal["success"]
    deleted_messages: int


class CommandInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    text: Annotated[str, Meta(min_length=1, max_length=1000)]
    media_url: Annotated[str, Meta(max_length=2000, pattern=r"^https?://")] | None = None


class CommandQueued(msgspec.Struct, kw_only=True):
    command_id: str
    status: Literal["queued"]
    chat_id: str
    issued_at: datetime


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise field_error(name, f"{name} is out of range", source="query") from None


def conversation_filters(
    status: Literal["open", "answered"] | None,
    topic: str | None,
    fan: str | None,
    q: str | None,
    start: datetime | None,
    end: datetime | None,
) -> ConversationFilters:
    """The list filters; ``start``/``end`` without an offset are UTC; start >= end, or a
    time that is no instant in UTC (e.g. ``0001-01-01T00:00:00+01:00``), is 422 (checked
    here: an export must not fail after its stream has started)."""
    start = _utc(start, "start")
    end = _utc(end, "end")
    if start is not None and end is not None and start >= end:
        raise field_error("start", "start must be before end", source="query")
    return ConversationFilters(
        status=status,
        topic=topic.strip() or None if topic else None,
        fan=fan.strip() or None if fan else None,
        q=q.strip() or None if q else None,
        start=start,
        end=end,
    )


async def _existing_chat(account_id: str, chat_id: str) -> None:
    if not await chat_exists(account_id, chat_id):
        raise NotFoundException("No such conversation")


class ConversationsController(Controller):
    path = "/api/v1/conversations"
    tags = ["conversations"]

    @get("/", summary="List conversations with filters and pagination")
    async def list_(
        self,
        principal: Principal,
        account_id: str | None = None,
        status: Literal["open", "answered"] | None = None,
        topic: Annotated[str | None, Parameter(max_length=64)] = None,
        fan: Annotated[str | None, Parameter(max_length=200)] = None,
        q: Annotated[str | None, Parameter(max_length=500)] = None,
        start: datetime | None = None,
        end: datetime | None = None,
        page: Annotated[int, Parameter(ge=1, le=1_000_000)] = 1,
        limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT)] = 20,
    ) -> ConversationPage:
        """``status=open``: the last message with a direction is the fan's (unanswered);
        ``answered``: it is the creator's. ``fan`` searches name/username, ``q`` the
        messages' text (both case-insensitive substrings); ``start``/``end`` keep chats with
        a message in ``[start, end)``; ``topic`` with a window keeps chats with a session
        starting in it that has the topic (the Insights topic rule). Most recently active
        first."""
        account = scope_account(principal, account_id, "read")
        filters = conversation_filters(status, topic, fan, q, start, end)
        return await list_conversations(account, filters, page, limit)

    @get("/{chat_id:str}", summary="A conversation's status summary")
    async def detail(
        self, settings: Settings, principal: Principal, chat_id: str, account_id: str | None = None
    ) -> ConversationDetail:
        account = scope_account(principal, account_id, "read")
        found = await conversation_detail(account, chat_id, settings)
        if found is None:
            raise NotFoundException("No such conversation")
        return found

    @get("/{chat_id:str}/messages", summary="A conversation's messages, oldest first")
    async def messages(
        self,
        principal: Principal,
        chat_id: str,
        account_id: str | None = None,
        cursor: Annotated[str | None, Parameter(max_length=1000)] = None,
        limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT)] = 50,
    ) -> MessagePage:
        """Pages in chat order (time, then id; messages without a usable time last), each
        message with its enrichment. Pass ``next_cursor`` as ``cursor`` for the next page."""
        account = scope_account(principal, account_id, "read")
        await _existing_chat(account, chat_id)
        try:
            return await message_page(account, chat_id, limit, cursor)
        except CursorError:
            raise field_error("cursor", "Invalid cursor", source="query") from None

    @delete(
        "/{chat_id:str}",
        summary="Delete a conversation and everything derived from it (owner)",
        status_code=HTTP_200_OK,
    )
    async def delete_(
        self,
        principal: Principal,
        insights: InsightsScheduler,
        channels: OfcaChannelsPlugin,
        chat_id: str,
        account_id: str | None = None,
    ) -> DeleteResult:
        account = scope_account(principal, account_id, "delete")
        deleted = await delete_chat(account, chat_id, insights=insights, channels=channels)
        if deleted is None:
            raise NotFoundException("No such conversation")
        return DeleteResult(status="success", deleted_messages=deleted)

    @post(
        "/{chat_id:str}/messages",
        summary="Ask the connected extension to send a message in this chat",
        status_code=HTTP_202_ACCEPTED,
    )
    async def send(
        self,
        commands: ExtensionCommands,
        principal: Principal,
        chat_id: str,
        data: CommandInput,
        account_id: str | None = None,
    ) -> CommandQueued:
        """Publishes ``command_to_execute`` to the account's extension sockets; 409 when no
        extension is connected. The extension's later outbound message with this text in
        this chat is linked to the command (``command_id`` on the message)."""
        account = scope_account(principal, account_id, "command")
        await _existing_chat(account, chat_id)
        if not data.text.strip():
            raise field_error("text", "text must not be blank")
        if not await commands.present(account):
            raise ClientException(
                "No extension is connected for this account: open OnlyFans with the ofca "
                "extension signed in, then retry",
                status_code=HTTP_409_CONFLICT,
            )
        payload = await commands.issue(account, chat_id, data.text, data.media_url)
        return CommandQueued(
            command_id=payload.command_id,
            status="queued",
            chat_id=chat_id,
            issued_at=payload.issued_at,
        )
