"""``/api/v1/topics``: the account's topic rules (built-in taxonomy + custom topics).

Built-in topics are read-only and their ids are reserved; custom topics are created,
replaced and deleted here. Every change re-tags the account's stored messages (inline for
small accounts, in the background for large ones) and recomputes the affected sessions,
so the insights follow.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_409_CONFLICT

from ofca.access.principals import scope_account
from ofca.domain.auth import Principal
from ofca.domain.insights import TopicListResponse, TopicView
from ofca.errors import field_error
from ofca.insights.topics import (
    TopicConflict,
    TopicInput,
    TopicNotFound,
    TopicValidationError,
    create_topic,
    delete_topic,
    list_topics,
    schedule_retag,
    update_topic,
)
from ofca.settings import Settings

__all__ = ["TopicChange", "TopicsController"]

AccountParam = Annotated[
    str | None,
    QueryParameter(
        description="The account; required when the credential is not bound to one account.",
    ),
]


class TopicChange(msgspec.Struct, kw_only=True):
    """A created/replaced/deleted topic and the state of the re-tagging it caused."""

    topic: TopicView | None
    retag: Literal["done", "scheduled"]
    """``done``: stored messages and insights already follow; ``scheduled``: in progress."""


def _conflict(exc: TopicConflict) -> HTTPException:
    return HTTPException(status_code=HTTP_409_CONFLICT, detail=str(exc))


class TopicsController(Controller):
    path = "/api/v1/topics"
    tags = ["topics"]

    @get("/", summary="Built-in and custom topics with their keywords")
    async def index(
        self, principal: NamedDependency[Principal], account_id: AccountParam = None
    ) -> TopicListResponse:
        account = scope_account(principal, account_id, "read")
        return TopicListResponse(topics=await list_topics(account))

    @post("/", summary="Create a custom topic", status_code=HTTP_201_CREATED)
    async def create(
        self,
        principal: NamedDependency[Principal],
        settings: NamedDependency[Settings],
        data: JSONBody[TopicInput],
        account_id: AccountParam = None,
    ) -> TopicChange:
        account = scope_account(principal, account_id, "manage")
        try:
            topic = await create_topic(account, data)
        except TopicValidationError as exc:
            raise field_error("topic", str(exc)) from None
        except TopicConflict as exc:
            raise _conflict(exc) from None
        return TopicChange(topic=topic, retag=await schedule_retag(account, settings))

    @put("/{topic_id:str}", summary="Replace a custom topic's label and keywords")
    async def replace(
        self,
        principal: NamedDependency[Principal],
        settings: NamedDependency[Settings],
        topic_id: FromPath[str],
        data: JSONBody[TopicInput],
        account_id: AccountParam = None,
    ) -> TopicChange:
        account = scope_account(principal, account_id, "manage")
        try:
            topic = await update_topic(account, topic_id, data)
        except TopicValidationError as exc:
            raise field_error("topic", str(exc)) from None
        except TopicConflict as exc:
            raise _conflict(exc) from None
        except TopicNotFound as exc:
            raise NotFoundException(str(exc)) from None
        return TopicChange(topic=topic, retag=await schedule_retag(account, settings))

    @delete("/{topic_id:str}", summary="Delete a custom topic", status_code=200)
    async def remove(
        self,
        principal: NamedDependency[Principal],
        settings: NamedDependency[Settings],
        topic_id: FromPath[str],
        account_id: AccountParam = None,
    ) -> TopicChange:
        account = scope_account(principal, account_id, "manage")
        try:
            await delete_topic(account, topic_id)
        except TopicConflict as exc:
            raise _conflict(exc) from None
        except TopicNotFound as exc:
            raise NotFoundException(str(exc)) from None
        return TopicChange(topic=None, retag=await schedule_retag(account, settings))
