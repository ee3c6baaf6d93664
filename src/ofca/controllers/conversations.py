"""The conversations API: list, status summary, message pages, deletion and commands.

Every route is scoped to one account with ``scope_account``: a chat of another account is
a 404 (its existence is not revealed), another account named explicitly is a 403.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, NotFoundException, PermissionDeniedException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_409_CONFLICT
from msgspec import Meta

from ofca.access.principals import scope_account
from ofca.channels.plugin import OfcaChannelsPlugin
from ofca.controllers.params import TimeRangeParam, time_range_bounds
from ofca.conversations.erasure import delete_chat
from ofca.conversations.queries import (
    ConversationFilters,
    ConversationPage,
    CursorError,
    ListStatus,
    MessagePage,
    chat_exists,
    list_conversations,
    message_page,
)
from ofca.conversations.transcripts import (
    SeedConversationDetail,
    has_transcript_account,
    resolve_chat_id,
    seed_conversation_detail,
)
from ofca.domain.auth import Principal
from ofca.domain.money import command_chatter
from ofca.errors import field_error
from ofca.ingest.commands import ExtensionCommands
from ofca.insights.scheduler import InsightsScheduler
from ofca.settings import Settings

__all__ = [
    "ConversationsController",
    "EmailParam",
    "StatusParam",
    "conversation_filters",
    "list_scope",
]

MAX_LIMIT = 100

StatusParam = Annotated[
    str | None,
    QueryParameter(
        max_length=40,
        description="open (the fan waits), answered, or completed (transcripts, seed 004).",
    ),
]
EmailParam = Annotated[
    str | None,
    QueryParameter(max_length=200, description="Transcripts sent with this emailId (seed 004)."),
]


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


_STATUSES: tuple[ListStatus, ...] = ("open", "answered", "completed")


def _list_status(status: str | None) -> ListStatus | None:
    if status is None or not status.strip():
        return None
    for known in _STATUSES:
        if status.strip() == known:
            return known
    raise field_error(
        "status", f"status must be one of open, answered, completed, not {status!r}", "query"
    )


def conversation_filters(
    status: str | None,
    topic: str | None,
    fan: str | None,
    q: str | None,
    start: datetime | None,
    end: datetime | None,
    *,
    time_range: str | None = None,
    email_id: str | None = None,
    transcript_account: str | None = None,
) -> ConversationFilters:
    """The list filters; ``start``/``end`` without an offset are UTC (or ``time_range``,
    the N days ending now); start >= end, or a time that is no instant in UTC (e.g.
    ``0001-01-01T00:00:00+01:00``), an unknown ``status`` or a bad ``time_range`` is 422
    (checked here: an export must not fail after its stream has started)."""
    start, end = time_range_bounds(time_range, start, end)
    start = _utc(start, "start")
    end = _utc(end, "end")
    if start is not None and end is not None and start >= end:
        raise field_error("start", "start must be before end", source="query")
    return ConversationFilters(
        status=_list_status(status),
        topic=topic.strip() or None if topic else None,
        fan=fan.strip() or None if fan else None,
        q=q.strip() or None if q else None,
        start=start,
        end=end,
        email_id=email_id or None,
        transcript_account=transcript_account,
    )


async def list_scope(principal: Principal, account_id: str | None) -> tuple[str, str | None]:
    """(the account, seed 004's ``account_id`` filter) of a list or export request.

    ``account_id`` names the ofca account when this credential may use that account.
    Otherwise, for a credential bound to one account, it is the ``accountId`` transcripts
    were sent with (seed 004's list filter) when some transcript of that account has it;
    anything else stays a 403, so nothing is learnt about other accounts.
    """
    try:
        return scope_account(principal, account_id, "read"), None
    except PermissionDeniedException:
        if account_id is None:
            raise
        try:
            own = scope_account(principal, None, "read")
        except PermissionDeniedException:
            own = None
        if own is None or not await has_transcript_account(own, account_id):
            raise
        return own, account_id


async def _resolved_chat(account_id: str, requested: str) -> tuple[str, bool]:
    """The chat id a path names (a chat id, or a transcript's ``conversationId``) and
    whether it was the latter; 404 when neither."""
    found = await resolve_chat_id(account_id, requested)
    if found is None:
        raise NotFoundException("No such conversation")
    return found


async def _existing_chat(account_id: str, chat_id: str) -> None:
    if not await chat_exists(account_id, chat_id):
        raise NotFoundException("No such conversation")


class ConversationsController(Controller):
    path = "/api/v1/conversations"
    tags = ["conversations"]

    @get("/", summary="List conversations with filters and pagination")
    async def list_(
        self,
        principal: NamedDependency[Principal],
        account_id: FromQuery[str | None] = None,
        status: StatusParam = None,
        topic: Annotated[str | None, QueryParameter(max_length=64)] = None,
        fan: Annotated[str | None, QueryParameter(max_length=200)] = None,
        q: Annotated[str | None, QueryParameter(max_length=500)] = None,
        email_id: EmailParam = None,
        start: FromQuery[datetime | None] = None,
        end: FromQuery[datetime | None] = None,
        time_range: TimeRangeParam = None,
        page: Annotated[int, QueryParameter(ge=1, le=1_000_000)] = 1,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = 20,
    ) -> ConversationPage:
        """``status=open``: the last message with a direction is the fan's (unanswered);
        ``answered``: it is the creator's; ``completed``: transcripts (seed 004). ``fan``
        searches name/username, ``q`` the messages' text (both case-insensitive
        substrings); ``start``/``end`` (or ``time_range``) keep chats with a message in
        ``[start, end)``; ``topic`` with a window keeps chats with a session starting in it
        that has the topic (the Insights topic rule); ``email_id`` and ``account_id`` (when
        it is not an account of this credential) keep transcripts sent with that
        ``emailId`` / ``accountId``. Most recently active first."""
        account, transcript_account = await list_scope(principal, account_id)
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
        return await list_conversations(account, filters, page, limit)

    @get("/{chat_id:str}", summary="A conversation's status summary")
    async def detail(
        self,
        settings: NamedDependency[Settings],
        principal: NamedDependency[Principal],
        chat_id: FromPath[str],
        account_id: FromQuery[str | None] = None,
    ) -> SeedConversationDetail:
        """``chat_id`` is a chat id or a transcript's ``conversationId`` (seed 004). The
        summary carries seed 004's fields too; ``status`` is ``completed`` for a transcript
        asked for by its ``conversationId``, else who spoke last."""
        account = scope_account(principal, account_id, "read")
        resolved, by_conversation_id = await _resolved_chat(account, chat_id)
        found = await seed_conversation_detail(
            account, resolved, settings, by_conversation_id=by_conversation_id
        )
        if found is None:
            raise NotFoundException("No such conversation")
        return found

    @get("/{chat_id:str}/messages", summary="A conversation's messages, oldest first")
    async def messages(
        self,
        principal: NamedDependency[Principal],
        chat_id: FromPath[str],
        account_id: FromQuery[str | None] = None,
        cursor: Annotated[str | None, QueryParameter(max_length=1000)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = 50,
    ) -> MessagePage:
        """Pages in chat order (time, then id; messages without a usable time last), each
        message with its enrichment. Pass ``next_cursor`` as ``cursor`` for the next page.
        ``chat_id`` may be a transcript's ``conversationId``, as for the summary."""
        account = scope_account(principal, account_id, "read")
        resolved, _ = await _resolved_chat(account, chat_id)
        try:
            return await message_page(account, resolved, limit, cursor)
        except CursorError:
            raise field_error("cursor", "Invalid cursor", source="query") from None

    @delete(
        "/{chat_id:str}",
        summary="Delete a conversation and everything derived from it (owner)",
        status_code=HTTP_200_OK,
    )
    async def delete_(
        self,
        principal: NamedDependency[Principal],
        insights: NamedDependency[InsightsScheduler],
        channels: NamedDependency[OfcaChannelsPlugin],
        chat_id: FromPath[str],
        account_id: FromQuery[str | None] = None,
    ) -> DeleteResult:
        account = scope_account(principal, account_id, "delete")
        resolved, _ = await _resolved_chat(account, chat_id)
        deleted = await delete_chat(account, resolved, insights=insights, channels=channels)
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
        commands: NamedDependency[ExtensionCommands],
        principal: NamedDependency[Principal],
        chat_id: FromPath[str],
        data: JSONBody[CommandInput],
        account_id: FromQuery[str | None] = None,
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
        key_id = principal.credential_id.removeprefix("key:")
        issuer = command_chatter(principal.user_id, key_id if principal.kind == "api_key" else None)
        payload = await commands.issue(account, chat_id, data.text, data.media_url, issuer)
        return CommandQueued(
            command_id=payload.command_id,
            status="queued",
            chat_id=chat_id,
            issued_at=payload.issued_at,
        )
