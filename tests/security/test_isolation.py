"""Every REST route, enumerated from the app: account B can neither read nor write account A,
and nothing answers without credentials unless it is on the public allowlist.

New endpoints are covered automatically: path parameters get account A's ids (see
``A_VALUES``), every request also names account A in the query, and after all requests
every row of every table that has an ``account_id`` column is compared for account A.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from ofca.persistence.tables import ALL_TABLES, ApiKey, ChatRow, MessageRow
from ofca.persistence.users import add_membership
from tests.conftest import KeyMaker
from tests.security.conftest import signup

Client = AsyncTestClient[Litestar]

# Routes anyone may call: health, the WebSocket schema, API docs, the dashboard page and
# its assets, and the two doors to a login. Anything else must answer 401 without a
# credential; a new public route has to be added here on purpose.
PUBLIC_ROUTES: tuple[str, ...] = (
    "/health",
    "/api/v1/health",
    "/api/v1/schemas/wss",
    "/schema",
    "/schema/*",
    "/docs",
    "/redoc",
    "/",
    "/static/*",
    "/auth/signup",
    "/auth/login",
)

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# Plausible bodies so writes get past validation to the account check.
SAMPLE_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/topics"): {"id": "b-topic", "label": "B topic", "keywords": ["bee"]},
    ("PUT", "/api/v1/topics/{topic_id}"): {"label": "hijacked", "keywords": ["hijack"]},
    ("POST", "/api/v1/conversations/{chat_id}/messages"): {"text": "hijack"},
    ("POST", "/api/v1/accounts/{account_id}/keys"): {"role": "owner"},
    ("POST", "/api/v1/accounts"): {"account_id": "b-made-this"},
    ("PUT", "/api/v1/accounts/{account_id}/webhook-secret"): {},
}
VOLATILE_COLUMNS = frozenset({"last_used_at", "last_seen_at", "updated_at", "expires_at_seen"})


def _template(path: str) -> str:
    """``/a/{x:str}`` -> ``/a/{x}``."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def _is_public(path: str) -> bool:
    for pattern in PUBLIC_ROUTES:
        if pattern.endswith("/*"):
            if path == pattern[:-2] or path.startswith(pattern[:-1]):
                return True
        elif path == pattern:
            return True
    return False


def http_operations(app: Litestar) -> list[tuple[str, str, HTTPRoute]]:
    """(method, path template, route) for every HTTP route handler (no OPTIONS/HEAD)."""
    operations = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for method in sorted(route.methods - {"OPTIONS", "HEAD"}):
            operations.append((method, _template(route.path), route))
    # Logging out ends the session the later requests use: last.
    return sorted(operations, key=lambda op: (op[1] == "/auth/logout", op[1], op[0]))


class AccountA(msgspec.Struct, kw_only=True):
    account_id: str
    owner_key: str
    key_id: int
    chat_id: str
    message_id: str
    topic_id: str
    marker: str
    member_user_id: str


async def _seed_account_a(client: Client, make_key: KeyMaker, account_id: str) -> AccountA:
    owner_key = await make_key(account_id, "owner")
    key_row = await ApiKey.select(ApiKey.id).where(ApiKey.account_id == account_id).first().run()
    marker = f"secret-of-a-{secrets.token_hex(4)}"
    now = datetime.now(UTC)
    chat_id, message_id = f"chat-{marker}", f"msg-{marker}"
    await (
        ChatRow(
            account_id=account_id, chat_id=chat_id, fan_name=marker, created_at=now, updated_at=now
        )
        .save()
        .run()
    )
    await (
        MessageRow(
            account_id=account_id,
            message_id=message_id,
            chat_id=chat_id,
            direction="inbound",
            created_at=now,
            text=marker,
            raw="{}",
            content_hash="0" * 64,
            ingested_at=now,
        )
        .save()
        .run()
    )
    member = await signup(client)
    client.cookies.clear()
    await add_membership(member["user"]["user_id"], account_id, "owner")
    topic_id = f"a-topic-{secrets.token_hex(3)}"
    headers = {"X-API-Key": owner_key}
    made = await client.post(
        "/api/v1/topics",
        json={"id": topic_id, "label": marker, "keywords": ["alpha"]},
        headers=headers,
    )
    assert made.status_code in (200, 201), made.text
    secret = await client.put(f"/api/v1/accounts/{account_id}/webhook-secret", headers=headers)
    assert secret.status_code in (200, 201), secret.text
    return AccountA(
        account_id=account_id,
        owner_key=owner_key,
        key_id=int(key_row["id"]),
        chat_id=chat_id,
        message_id=message_id,
        topic_id=topic_id,
        marker=marker,
        member_user_id=member["user"]["user_id"],
    )


def _path_values(a: AccountA) -> dict[str, str]:
    return {
        "account_id": a.account_id,
        "user_id": a.account_id,
        "key_id": str(a.key_id),
        "chat_id": a.chat_id,
        "conversation_id": a.chat_id,
        "fan_id": a.chat_id,
        "message_id": a.message_id,
        "topic_id": a.topic_id,
    }


def _fill(template: str, values: dict[str, str], fallback: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), fallback), template)


def _fill_for(template: str, a: AccountA) -> str:
    values = _path_values(a)
    if "/members/" in template:
        values["user_id"] = a.member_user_id  # a person here, not an account
    return _fill(template, values, a.account_id)


async def _snapshot(account_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table with an ``account_id`` column, for account A."""
    snapshot: dict[str, list[dict[str, Any]]] = {}
    for table in ALL_TABLES:
        column = table._meta.get_column_by_name("account_id") if _has_account(table) else None
        if column is None:
            continue
        rows = (
            await table.select().where(column == account_id).order_by(table._meta.primary_key).run()
        )
        snapshot[table._meta.tablename] = [
            {k: v for k, v in row.items() if k not in VOLATILE_COLUMNS} for row in rows
        ]
    return snapshot


def _has_account(table: Any) -> bool:
    return any(column._meta.name == "account_id" for column in table._meta.columns)


async def test_every_route_needs_credentials_unless_public(client: Client, account_id: str) -> None:
    values = {"account_id": account_id, "user_id": account_id}
    checked = []
    for method, template, _ in http_operations(client.app):
        if _is_public(template):
            continue
        path = _fill(template, values, "1")
        response = await client.request(
            method,
            path,
            params={"account_id": account_id},
            json={} if method in WRITE_METHODS else None,
        )
        assert response.status_code == 401, (
            f"{method} {template} answered {response.status_code} without credentials: "
            "protect it, or add it to PUBLIC_ROUTES on purpose"
        )
        assert set(response.json()) >= {"detail", "status_code", "timestamp"}
        checked.append((method, template))
    assert len(checked) >= 10  # the enumeration found the API


@pytest.mark.parametrize("credential", ["owner_key", "login"])
async def test_account_b_cannot_read_or_write_account_a(
    client: Client, make_key: KeyMaker, account_id: str, credential: str
) -> None:
    a = await _seed_account_a(client, make_key, account_id)
    other = f"{account_id}-b"
    b_email = "not-a-user@example.com"
    if credential == "owner_key":
        headers = {"X-API-Key": await make_key(other, "owner")}
    else:
        login = await signup(client, account_id=other)
        b_email = login["email"]
        client.cookies.clear()  # only the header below speaks for B
        headers = {"Authorization": f"Bearer {login['token']}"}
    before = await _snapshot(a.account_id)
    assert before["ofca_message"] and before["ofca_api_key"]

    leaks = [a.marker, a.chat_id, a.topic_id]
    bodies = {
        **SAMPLE_BODIES,
        # B trying to make itself an owner of A.
        ("PUT", "/api/v1/accounts/{account_id}/members"): {"email": b_email, "role": "owner"},
    }
    for method, template, _ in http_operations(client.app):
        path = _fill_for(template, a)
        body = bodies.get((method, template), {"account_id": a.account_id})
        response = await client.request(
            method,
            path,
            params={"account_id": a.account_id},
            json=body if method in WRITE_METHODS else None,
            headers=headers,
        )
        where = f"{credential}: {method} {template} -> {response.status_code}"
        assert response.status_code < 500, where
        if response.status_code < 400:
            text = response.text
            assert not any(leak in text for leak in leaks), f"{where} leaked account A's data"
            if template not in {
                "/",
                "/auth/me",
                "/api/v1/accounts",
                "/api/v1/topics",
            } and not _is_public(template):
                # Any 2xx on an account-scoped route must not have been about account A.
                assert a.account_id not in text, f"{where} answered about account A"
        else:
            assert response.status_code in (400, 401, 403, 404, 405, 409, 422), where
    after = await _snapshot(a.account_id)
    assert after == before, "account B changed account A's rows"
    # A's own key still works: nothing was revoked.
    me = await client.get("/auth/me", headers={"X-API-Key": a.owner_key})
    assert me.status_code == 200


def test_public_allowlist_matches_real_routes(app: Litestar) -> None:
    """Every allowlisted pattern still names a route, so the list cannot silently rot."""
    templates = {template for _, template, _ in http_operations(app)}
    for pattern in PUBLIC_ROUTES:
        if pattern == "/static/*":
            continue  # the static files router may serve nothing when no build exists
        assert any(
            _is_public(template) and _matches(pattern, template) for template in templates
        ), pattern


def _matches(pattern: str, template: str) -> bool:
    if pattern.endswith("/*"):
        return template == pattern[:-2] or template.startswith(pattern[:-1])
    return template == pattern
