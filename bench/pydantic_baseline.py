"""The peer design's contracts: the incoming WebSocket union as Pydantic v2 models.

Kept in bench/ only, as the baseline of contract_cost.py. It mirrors
``ofca.domain.onlyfans`` and the incoming half of ``ofca.domain.wss`` field for field
(extra fields ignored, the same constraints), as the FastAPI + Pydantic design declared it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

PlatformId = Annotated[int, Field(ge=0)] | Annotated[str, Field(min_length=1, max_length=200)]
Timestamp = str | float | None


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ChatUser(_Model):
    id: PlatformId
    name: str | None = None
    username: str | None = None
    avatar: str | None = None


class FromUser(_Model):
    id: PlatformId | None = None
    name: str | None = None
    username: str | None = None


class Media(_Model):
    id: PlatformId | None = None
    type: str | None = None
    canView: bool | None = None
    src: str | None = None
    preview: str | None = None
    duration: float | None = None


class Message(_Model):
    id: PlatformId
    chat_id: PlatformId | None = None
    text: str | None = None
    createdAt: Timestamp = None
    changedAt: Timestamp = None
    fromUser: FromUser | None = None
    is_inbound: bool | None = None
    is_creator: bool | None = None
    isTip: bool = False
    isFree: bool = True
    price: Annotated[float, Field(ge=0)] | None = None
    mediaCount: Annotated[int, Field(ge=0)] = 0
    media: list[Media] = []
    isOpened: bool | None = None
    isNew: bool | None = None
    isLiked: bool | None = None
    lockedText: bool | None = None
    canPurchase: bool | None = None


class Chat(_Model):
    withUser: ChatUser
    chat_id: PlatformId | None = None
    id: PlatformId | None = None
    lastMessage: Message | None = None
    unreadMessagesCount: Annotated[int, Field(ge=0)] | None = None
    hasUnreadTips: bool | None = None
    isMutedNotifications: bool | None = None
    lastReadMessageId: PlatformId | None = None


class CacheUpdatePayload(_Model):
    chats: list[Chat] = []
    messages: list[Message] = []


class CacheUpdate(_Model):
    type: Literal["cache_update"]
    payload: CacheUpdatePayload


class NewRawMessagePayload(_Model):
    message: Message


class NewRawMessage(_Model):
    type: Literal["new_raw_message"]
    payload: NewRawMessagePayload


class KeepalivePayload(_Model):
    timestamp: str | float | None = None


class Keepalive(_Model):
    type: Literal["keepalive"]
    payload: KeepalivePayload = KeepalivePayload()


class OnlineUsersPayload(_Model):
    user_ids: list[PlatformId]
    timestamp: str | float | None = None


class OnlineUsersUpdate(_Model):
    type: Literal["online_users_update"]
    payload: OnlineUsersPayload


IncomingWssMessage = Annotated[
    CacheUpdate | NewRawMessage | Keepalive | OnlineUsersUpdate, Field(discriminator="type")
]
incoming_adapter: TypeAdapter[IncomingWssMessage] = TypeAdapter(IncomingWssMessage)
