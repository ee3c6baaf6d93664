"""Seed 004's conversation webhook and the account's webhook secret.

``POST /api/v1/webhook/conversation`` stores a transcript for the account of the calling
key (``integration`` or ``owner``). The body's ``accountId`` is the caller's own identifier
and is kept with the chat, never used to pick the ofca account. When the account has a
webhook secret, ``X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` is
required (401 when missing or wrong).
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, post, put
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT
from msgspec import Meta

from ofca.access.principals import scope_account
from ofca.domain.auth import Principal
from ofca.domain.sources import WEBHOOK_SOURCE, map_conversation_webhook, webhook_decoder
from ofca.errors import field_error
from ofca.ingest.context import Ingest
from ofca.ingest.sources import set_webhook_secret, store_batch, verify_signature, webhook_secret

__all__ = ["ConversationWebhookController", "WebhookSecretController"]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-webhook-signature"


class WebhookResult(msgspec.Struct, kw_only=True):
    conversationId: str
    processedAt: datetime
    status: Literal["processed", "duplicate"]
    """``duplicate``: every line was stored before, nothing changed."""
    webhookId: str
    chatId: str
    accepted: int
    updated: int
    duplicates: int
    duplicateMessageIds: list[str]


class WebhookResponse(msgspec.Struct, kw_only=True):
    success: bool
    message: str
    data: WebhookResult


class WebhookSecretInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    secret: Annotated[str, Meta(min_length=16, max_length=200)] | None = None
    """Omit to have a random secret generated."""


class WebhookSecretSet(msgspec.Struct, kw_only=True):
    """The secret, shown this once."""

    secret: str
    header: str = "X-Webhook-Signature"
    format: str = "sha256=<hex HMAC-SHA256 of the raw request body>"


def _decode_error(exc: msgspec.ValidationError | msgspec.DecodeError) -> Exception:
    message = str(exc)
    key = "body"
    if " - at `$." in message:
        message, _, path = message.partition(" - at `$.")
        key = path.rstrip("`")
    return field_error(key, f"Invalid webhook body: {message}")


class ConversationWebhookController(Controller):
    path = "/api/v1/webhook/conversation"
    tags = ["sources"]

    @post(
        "/",
        summary="Receive a conversation transcript (seed 004)",
        status_code=HTTP_200_OK,
    )
    async def receive(
        self,
        request: Request[Any, Any, Any],
        ingest: NamedDependency[Ingest],
        principal: NamedDependency[Principal],
        account_id: FromQuery[str | None] = None,
    ) -> WebhookResponse:
        """Idempotent: the same conversationId/messageIds again change nothing and are
        reported as duplicates. ``speaker`` ``user`` is the fan (inbound), ``agent`` the
        creator's side (outbound)."""
        account = scope_account(principal, account_id, "webhook")
        body = await request.body()
        secret = await webhook_secret(account)
        if secret and not verify_signature(secret, body, request.headers.get(SIGNATURE_HEADER)):
            raise NotAuthorizedException("Missing or invalid X-Webhook-Signature")
        try:
            payload = webhook_decoder.decode(body)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise _decode_error(exc) from None
        batch = map_conversation_webhook(payload)
        result = await store_batch(
            ingest, account, WEBHOOK_SOURCE, "conversation", batch, len(body)
        )
        # "duplicate" only when lines came and every one was stored before; an empty
        # transcript still registers the conversation.
        duplicate = result.duplicates > 0 and result.accepted + result.updated == 0
        return WebhookResponse(
            success=True,
            message="Conversation already received: nothing changed"
            if duplicate
            else "Conversation data received successfully",
            data=WebhookResult(
                conversationId=payload.conversationId,
                processedAt=datetime.now(UTC),
                status="duplicate" if duplicate else "processed",
                webhookId=f"webhook_{secrets.token_hex(8)}",
                chatId=batch.chats[0].resolved_id,
                accepted=result.accepted,
                updated=result.updated,
                duplicates=result.duplicates,
                duplicateMessageIds=result.duplicate_message_ids,
            ),
        )


class WebhookSecretController(Controller):
    path = "/api/v1/accounts/{account_id:str}/webhook-secret"
    tags = ["sources"]

    @put("/", summary="Set or generate the webhook HMAC secret (owner); shown once")
    async def set_secret(
        self,
        principal: NamedDependency[Principal],
        account_id: FromPath[str],
        data: JSONBody[WebhookSecretInput | None] = None,
    ) -> WebhookSecretSet:
        scope_account(principal, account_id, "manage")
        secret = (data.secret if data else None) or secrets.token_urlsafe(32)
        if not await set_webhook_secret(account_id, secret):
            raise NotFoundException("No such account")
        log.info("webhook secret set account=%s", account_id)
        return WebhookSecretSet(secret=secret)

    @delete(
        "/", summary="Stop requiring webhook signatures (owner)", status_code=HTTP_204_NO_CONTENT
    )
    async def clear_secret(
        self, principal: NamedDependency[Principal], account_id: FromPath[str]
    ) -> None:
        scope_account(principal, account_id, "manage")
        if not await set_webhook_secret(account_id, None):
            raise NotFoundException("No such account")
