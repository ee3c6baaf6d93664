"""Chatwoot's account webhooks, and the per-account token that authenticates them.

Chatwoot cannot send ofca's API keys, so the webhook URL carries a per-account token:
``/api/v1/integrations/chatwoot/{account_id}?token=...`` (or header ``X-Chatwoot-Token``).
When the owner stores the webhook's secret from Chatwoot (v4.11.2+ signs deliveries),
``X-Chatwoot-Signature: sha256=<HMAC-SHA256 of "<X-Chatwoot-Timestamp>.<body>">`` with a
timestamp at most 5 minutes old is required as well.
Message events upsert the message (private notes, activity and template messages are
ignored); conversation events upsert the chat and any messages they carry; every other
event is acknowledged with 200 and ignored, so Chatwoot never retries it.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, post, put
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, NotAuthorizedException, NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_409_CONFLICT
from msgspec import Meta

from ofca.access.principals import scope_account
from ofca.controllers.openapi import UNAUTHORIZED
from ofca.domain.auth import Principal
from ofca.domain.sources import (
    CHATWOOT_SOURCE,
    chatwoot_event_decoder,
    chatwoot_event_kind,
    map_chatwoot_event,
)
from ofca.errors import field_error
from ofca.ingest.context import Ingest
from ofca.ingest.sources import (
    chatwoot_auth,
    generate_chatwoot_token,
    set_chatwoot_signing_secret,
    store_batch,
    verify_chatwoot_signature,
)
from ofca.persistence.accounts import get_account

__all__ = ["ChatwootController", "ChatwootTokenController"]

log = logging.getLogger(__name__)

TOKEN_HEADER = "x-chatwoot-token"


class ChatwootAck(msgspec.Struct, kw_only=True):
    status: Literal["processed", "duplicate", "ignored"]
    event: str
    accepted: int = 0
    updated: int = 0
    duplicates: int = 0
    ignored: int = 0
    chat_id: str | None = None


class ChatwootTokenCreated(msgspec.Struct, kw_only=True):
    """The token, shown this once; the previous token stops working."""

    token: str
    webhook_path: str


class SigningSecretInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    secret: Annotated[str, Meta(min_length=8, max_length=200)] | None
    """The webhook's secret as Chatwoot shows it; ``null`` stops requiring signatures."""


class SigningSecretSet(msgspec.Struct, kw_only=True):
    signatures_required: bool


class ChatwootController(Controller):
    path = "/api/v1/integrations/chatwoot"
    tags = ["sources"]

    @post(
        "/{account_id:str}",
        summary="Receive a Chatwoot webhook event",
        status_code=HTTP_200_OK,
        responses={401: UNAUTHORIZED},  # its own token, not a credential
    )
    async def receive(
        self,
        request: Request[Any, Any, Any],
        ingest: NamedDependency[Ingest],
        account_id: FromPath[str],
        token: FromQuery[str | None] = None,
    ) -> ChatwootAck:
        presented = request.headers.get(TOKEN_HEADER) or token
        auth = await chatwoot_auth(account_id, presented)
        if not auth.token_ok:
            raise NotAuthorizedException("Missing or invalid Chatwoot token")
        body = await request.body()
        if auth.signing_secret is not None and not verify_chatwoot_signature(
            auth.signing_secret,
            body,
            request.headers.get("x-chatwoot-signature"),
            request.headers.get("x-chatwoot-timestamp"),
        ):
            raise NotAuthorizedException(
                "Missing, invalid or stale X-Chatwoot-Signature / X-Chatwoot-Timestamp"
            )
        try:
            event = chatwoot_event_decoder.decode(body)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise field_error("body", f"Invalid Chatwoot event: {exc}") from None
        batch = map_chatwoot_event(event)
        if batch is None:
            log.info(
                "chatwoot event %s for %s ignored (%s)",
                event.event,
                account_id,
                chatwoot_event_kind(event),
            )
            return ChatwootAck(status="ignored", event=event.event)
        result = await store_batch(
            ingest, account_id, CHATWOOT_SOURCE, event.event, batch, len(body)
        )
        changed = result.accepted + result.updated
        status: Literal["processed", "duplicate", "ignored"]
        if changed:
            status = "processed"
        elif result.duplicates:
            status = "duplicate"
        elif batch.chats and not batch.ignored:
            status = "processed"  # a conversation event: the chat itself was upserted
        else:
            status = "ignored"
        return ChatwootAck(
            status=status,
            event=event.event,
            accepted=result.accepted,
            updated=result.updated,
            duplicates=result.duplicates,
            ignored=result.ignored,
            chat_id=batch.chats[0].resolved_id if batch.chats else None,
        )


class ChatwootTokenController(Controller):
    path = "/api/v1/accounts/{account_id:str}/chatwoot-token"
    tags = ["sources"]

    @post(
        "/",
        summary="(Re)generate the Chatwoot webhook token (owner); shown once",
        status_code=HTTP_201_CREATED,
    )
    async def generate(
        self, principal: NamedDependency[Principal], account_id: FromPath[str]
    ) -> ChatwootTokenCreated:
        scope_account(principal, account_id, "manage")
        if await get_account(account_id) is None:
            raise NotFoundException("No such account")
        token = await generate_chatwoot_token(account_id)
        log.info("chatwoot token generated account=%s", account_id)
        return ChatwootTokenCreated(
            token=token, webhook_path=f"/api/v1/integrations/chatwoot/{account_id}"
        )

    @put("/signing-secret", summary="Require Chatwoot's webhook signature (owner)")
    async def signing_secret(
        self,
        principal: NamedDependency[Principal],
        account_id: FromPath[str],
        data: JSONBody[SigningSecretInput],
    ) -> SigningSecretSet:
        scope_account(principal, account_id, "manage")
        if not await set_chatwoot_signing_secret(account_id, data.secret):
            raise ClientException(
                "Generate the Chatwoot token first (POST .../chatwoot-token)",
                status_code=HTTP_409_CONFLICT,
            )
        log.info("chatwoot signing %s account=%s", "on" if data.secret else "off", account_id)
        return SigningSecretSet(signatures_required=data.secret is not None)
