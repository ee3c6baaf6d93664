"""Human login (seed 003): signup, login, cookie, logout, me, memberships and roles."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient
from piccolo.engine.base import Engine

from ofca.access.logins import SESSION_COOKIE, signing_key
from ofca.app import create_app
from ofca.domain.passwords import hash_password, verify_password
from ofca.domain.tokens import InvalidToken, decode_jwt, encode_jwt
from ofca.persistence.users import add_membership
from ofca.settings import Settings
from tests.conftest import KeyMaker
from tests.security.conftest import PASSWORD, new_email, signup

Client = AsyncTestClient[Litestar]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_signup_creates_user_and_owned_account(client: Client, account_id: str) -> None:
    body = await signup(client, account_id=account_id)
    assert set(body) >= {"token", "user", "session_id"}
    assert body["user"]["email"] == body["email"]
    assert "password" not in str(body["user"]) and "hash" not in str(body["user"])
    me = await client.get("/auth/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.json()["credential"] == "session"
    assert me.json()["accounts"] == [{"account_id": account_id, "name": "Creator", "role": "owner"}]


async def test_signup_with_account_name_derives_an_id(client: Client) -> None:
    body = await signup(client, account_name="Bella's Page")
    accounts = (await client.get("/auth/me", headers=bearer(body["token"]))).json()["accounts"]
    assert len(accounts) == 1
    assert accounts[0]["account_id"].startswith("bella-s-page-")
    assert accounts[0]["name"] == "Bella's Page" and accounts[0]["role"] == "owner"


async def test_signup_validation_lists_bad_fields(client: Client) -> None:
    response = await client.post(
        "/auth/signup", json={"email": "not-an-email", "password": "short", "name": "x"}
    )
    assert response.status_code == 422
    body = response.json()
    assert set(body) >= {"detail", "status_code", "timestamp", "errors"}
    assert body["status_code"] == 422
    assert {error["key"] for error in body["errors"]} & {"email", "password"}


async def test_signup_cannot_claim_an_existing_account_or_email(
    client: Client, make_key: KeyMaker, account_id: str
) -> None:
    await make_key(account_id, "owner")
    claim = await client.post(
        "/auth/signup",
        json={"email": new_email(), "password": PASSWORD, "account_id": account_id},
    )
    assert claim.status_code == 409
    first = await signup(client)
    duplicate = await client.post(
        "/auth/signup", json={"email": first["email"].upper(), "password": PASSWORD}
    )
    assert duplicate.status_code == 409


async def test_login_sets_a_safe_cookie_and_wrong_password_is_401(client: Client) -> None:
    created = await signup(client)
    wrong = await client.post("/auth/login", json={"email": created["email"], "password": "x" * 12})
    assert wrong.status_code == 401
    unknown = await client.post("/auth/login", json={"email": new_email(), "password": PASSWORD})
    assert unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]  # no user enumeration

    response = await client.post(
        "/auth/login", json={"email": created["email"], "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"token", "user", "session_id"}
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered
    assert "secure" not in lowered  # plain http here; https requests get Secure


async def test_cookie_is_secure_over_https(app: Litestar) -> None:
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as client:
        created = await signup(client)
        response = await client.post(
            "/auth/login", json={"email": created["email"], "password": PASSWORD}
        )
        assert "secure" in response.headers["set-cookie"].lower()


async def test_cookie_alone_authenticates_and_logout_revokes_everywhere(
    app: Litestar, settings: Settings, engine: Engine
) -> None:
    async with AsyncTestClient(app=app) as client:
        created = await signup(client)
        token = created["token"]
        # The signup response set the cookie on this client: no header needed.
        assert (await client.get("/auth/me")).status_code == 200
        # A second process (another app on the same database) sees the same session.
        async with AsyncTestClient(app=create_app(settings, engine=engine)) as other:
            assert (await other.get("/auth/me", headers=bearer(token))).status_code == 200
            # As the dashboard's own page sends it (tests/security/test_cross_site.py).
            same_origin = {"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin"}
            logout = await client.post("/auth/logout", headers=same_origin)
            assert logout.status_code == 200
            assert SESSION_COOKIE in logout.headers["set-cookie"]
            assert (await other.get("/auth/me", headers=bearer(token))).status_code == 401
        assert (await client.get("/auth/me", headers=bearer(token))).status_code == 401


async def test_logout_with_api_key_is_refused(
    client: Client, make_key: KeyMaker, account_id: str
) -> None:
    key = await make_key(account_id, "owner")
    response = await client.post("/auth/logout", headers=bearer(key))
    assert response.status_code == 400


async def test_tampered_or_foreign_tokens_are_refused(client: Client, settings: Settings) -> None:
    created = await signup(client)
    header, claims, signature = created["token"].split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    for token in (
        f"{header}.{claims}.{flipped}",
        f"{header}.{claims}.",
        encode_jwt(
            {"sid": created["session_id"], "sub": created["user"]["user_id"], "exp": 2**40},
            b"k" * 40,
        ),
        "a.b.c",
    ):
        assert (await client.get("/auth/me", headers=bearer(token))).status_code == 401
    # alg=none is never accepted, even with a valid-looking payload.
    none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"
    response = await client.get("/auth/me", headers=bearer(f"{none_header}.{claims}."))
    assert response.status_code == 401
    key = await signing_key(settings)
    claims_only = decode_jwt(created["token"], key, now=0)
    assert claims_only["sid"] == created["session_id"]


def test_jwt_expiry_and_signature() -> None:
    token = encode_jwt({"sid": "s", "exp": 1000}, b"secret-key")
    assert decode_jwt(token, b"secret-key", now=1000)["sid"] == "s"
    for key, now in ((b"other-key", 1000), (b"secret-key", 2000)):
        try:
            decode_jwt(token, key, now=now)
        except InvalidToken:
            continue
        raise AssertionError("token accepted")


def test_password_hashing_is_salted_scrypt() -> None:
    first, second = hash_password("same password"), hash_password("same password")
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert verify_password("same password", first)
    assert not verify_password("same passworD", first)
    assert not verify_password("same password", "garbage")


async def test_multi_account_user_gets_per_account_roles(
    client: Client, make_key: KeyMaker, account_id: str
) -> None:
    created = await signup(client, account_id=account_id)
    other = account_id + "-viewer"
    await make_key(other, "owner")
    await add_membership(created["user"]["user_id"], other, "dashboard")
    token = created["token"]
    me = (await client.get("/auth/me", headers=bearer(token))).json()
    assert {(row["account_id"], row["role"]) for row in me["accounts"]} == {
        (account_id, "owner"),
        (other, "dashboard"),
    }
    # Owner of the first account: may manage its keys; only a viewer of the second.
    own = await client.get(f"/api/v1/accounts/{account_id}/keys", headers=bearer(token))
    assert own.status_code == 200
    viewer = await client.get(f"/api/v1/accounts/{other}/keys", headers=bearer(token))
    assert viewer.status_code == 403
    listed = await client.get("/api/v1/accounts", headers=bearer(token))
    assert {row["account_id"] for row in listed.json()} == {account_id, other}


async def test_concurrent_processes_agree_on_the_generated_secret(settings: Settings) -> None:
    if settings.secret_key is not None:
        return
    from ofca.access import logins as auth_sessions

    auth_sessions._signing_keys.clear()
    first, second = await asyncio.gather(signing_key(settings), signing_key(settings))
    auth_sessions._signing_keys.clear()
    assert first == second == await signing_key(settings)
    assert len(first) >= 32
    configured = msgspec.structs.replace(settings, secret_key="s" * 40)
    assert await signing_key(configured) == b"s" * 40


async def test_secrets_never_reach_the_logs(
    admin_client: Client, admin_headers: dict[str, str], account_id: str, caplog: Any
) -> None:
    with caplog.at_level(logging.INFO):
        created = await signup(admin_client, account_id=account_id)
        await admin_client.post(
            "/auth/login", json={"email": created["email"], "password": "wrong password!"}
        )
        made = await admin_client.post(
            f"/api/v1/accounts/{account_id}/keys", json={"role": "owner"}, headers=admin_headers
        )
        key = made.json()["key"]
        await admin_client.get("/auth/me", headers=bearer(key))
        await admin_client.delete(
            f"/api/v1/accounts/{account_id}/keys/{made.json()['info']['id']}",
            headers=admin_headers,
        )
    logged = caplog.text
    assert f"key revoked account={account_id}" in logged  # the logs do say what happened
    for secret in (key, created["token"], created["session_id"], PASSWORD, created["email"]):
        assert secret not in logged


async def test_signup_422_names_the_field_in_words(client: Client) -> None:
    response = await client.post(
        "/auth/signup", json={"email": "a@example.com", "password": "8chars!!", "name": "x"}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "Invalid password: must be at least 10 characters"
