"""The account/key admin API: admin key, owner keys, roles, expiry, revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import KeyMaker

Client = AsyncTestClient[Litestar]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_admin_creates_and_lists_accounts(
    admin_client: Client, admin_headers: dict[str, str], account_id: str
) -> None:
    created = await admin_client.post(
        "/api/v1/accounts",
        json={"account_id": account_id, "name": "Creator A"},
        headers=admin_headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["account_id"] == account_id
    again = await admin_client.post(
        "/api/v1/accounts", json={"account_id": account_id}, headers=admin_headers
    )
    assert again.status_code == 422
    assert again.json()["errors"][0]["key"] == "account_id"
    listed = await admin_client.get("/api/v1/accounts", headers=admin_headers)
    assert account_id in [row["account_id"] for row in listed.json()]
    bad = await admin_client.post(
        "/api/v1/accounts", json={"account_id": "no spaces/allowed"}, headers=admin_headers
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["key"] == "account_id"


async def test_only_admin_creates_accounts(
    admin_client: Client, make_key: KeyMaker, account_id: str
) -> None:
    owner = await make_key(account_id, "owner")
    response = await admin_client.post(
        "/api/v1/accounts", json={"account_id": account_id + "-x"}, headers=bearer(owner)
    )
    assert response.status_code == 403
    assert (
        await admin_client.post("/api/v1/accounts", json={"account_id": "x"})
    ).status_code == 401


async def test_key_lifecycle_shown_once_then_revoked_immediately(
    admin_client: Client, admin_headers: dict[str, str], make_key: KeyMaker, account_id: str
) -> None:
    await make_key(account_id, "extension")  # creates the account
    created = await admin_client.post(
        f"/api/v1/accounts/{account_id}/keys",
        json={"role": "dashboard", "name": "wall screen"},
        headers=admin_headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    key, key_id = body["key"], body["info"]["id"]
    assert key.startswith("ofca_") and body["info"]["role"] == "dashboard"
    listed = (
        await admin_client.get(f"/api/v1/accounts/{account_id}/keys", headers=admin_headers)
    ).json()
    assert key_id in [row["id"] for row in listed]
    assert key not in str(listed)  # listings never show the key
    me = await admin_client.get("/auth/me", headers=bearer(key))
    assert me.status_code == 200
    assert me.json()["accounts"] == [
        {"account_id": account_id, "name": account_id, "role": "dashboard"}
    ]

    revoked = await admin_client.delete(
        f"/api/v1/accounts/{account_id}/keys/{key_id}", headers=admin_headers
    )
    assert revoked.status_code == 204
    assert (await admin_client.get("/auth/me", headers=bearer(key))).status_code == 401
    again = await admin_client.delete(
        f"/api/v1/accounts/{account_id}/keys/{key_id}", headers=admin_headers
    )
    assert again.status_code == 404


async def test_owner_manages_own_keys_but_not_other_accounts(
    admin_client: Client, make_key: KeyMaker, account_id: str
) -> None:
    owner_a = await make_key(account_id, "owner")
    other = account_id + "-b"
    owner_b = await make_key(other, "owner")
    made = await admin_client.post(
        f"/api/v1/accounts/{account_id}/keys", json={"role": "extension"}, headers=bearer(owner_a)
    )
    assert made.status_code == 201
    key_id = made.json()["info"]["id"]
    for method, path, body in (
        ("GET", f"/api/v1/accounts/{account_id}/keys", None),
        ("POST", f"/api/v1/accounts/{account_id}/keys", {"role": "owner"}),
        ("DELETE", f"/api/v1/accounts/{account_id}/keys/{key_id}", None),
    ):
        response = await admin_client.request(method, path, json=body, headers=bearer(owner_b))
        assert response.status_code == 403, (method, path, response.text)
    # B cannot revoke A's key through its own account path either.
    sneaky = await admin_client.delete(
        f"/api/v1/accounts/{other}/keys/{key_id}", headers=bearer(owner_b)
    )
    assert sneaky.status_code == 404
    assert (
        await admin_client.get("/auth/me", headers=bearer(made.json()["key"]))
    ).status_code == 200
    ok = await admin_client.delete(
        f"/api/v1/accounts/{account_id}/keys/{key_id}", headers=bearer(owner_a)
    )
    assert ok.status_code == 204


async def test_non_owner_roles_cannot_manage_keys(
    admin_client: Client, make_key: KeyMaker, account_id: str
) -> None:
    for role in ("extension", "dashboard", "integration"):
        key = await make_key(account_id, role)
        response = await admin_client.post(
            f"/api/v1/accounts/{account_id}/keys", json={"role": "owner"}, headers=bearer(key)
        )
        assert response.status_code == 403, role


async def test_expiry_by_date_and_by_days(
    admin_client: Client, admin_headers: dict[str, str], make_key: KeyMaker, account_id: str
) -> None:
    await make_key(account_id, "owner")
    soon = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    by_date = await admin_client.post(
        f"/api/v1/accounts/{account_id}/keys",
        json={"role": "integration", "expires_at": soon},
        headers=admin_headers,
    )
    assert by_date.status_code == 201
    by_days = await admin_client.post(
        f"/api/v1/accounts/{account_id}/keys",
        json={"role": "integration", "expires_in_days": 3},
        headers=admin_headers,
    )
    expires = datetime.fromisoformat(by_days.json()["info"]["expires_at"])
    assert timedelta(days=2, hours=23) < expires - datetime.now(UTC) <= timedelta(days=3)
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    rejected = await admin_client.post(
        f"/api/v1/accounts/{account_id}/keys",
        json={"role": "integration", "expires_at": past},
        headers=admin_headers,
    )
    assert rejected.status_code == 422
    assert rejected.json()["errors"][0]["key"] == "expires_at"
    bad_role = await admin_client.post(
        f"/api/v1/accounts/{account_id}/keys", json={"role": "admin"}, headers=admin_headers
    )
    assert bad_role.status_code == 422
    assert bad_role.json()["errors"][0]["key"] == "role"


async def test_expired_key_is_refused(
    admin_client: Client, make_key: KeyMaker, account_id: str
) -> None:
    from ofca.persistence.keys import create_api_key

    await make_key(account_id, "owner")
    _, key = await create_api_key(
        account_id=account_id,
        role="owner",
        expires_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    response = await admin_client.get("/auth/me", headers=bearer(key))
    assert response.status_code == 401


async def test_admin_key_from_cli_is_admin(
    admin_client: Client, make_key: KeyMaker, account_id: str
) -> None:
    cli_admin = await make_key(None, "admin")
    response = await admin_client.post(
        "/api/v1/accounts", json={"account_id": account_id}, headers={"X-API-Key": cli_admin}
    )
    assert response.status_code == 201


async def test_missing_account_is_404_for_admin(
    admin_client: Client, admin_headers: dict[str, str]
) -> None:
    response = await admin_client.get("/api/v1/accounts/nope-nope/keys", headers=admin_headers)
    assert response.status_code == 404
    assert response.json()["status_code"] == 404


async def test_owner_manages_members_by_email(admin_client: Client, account_id: str) -> None:
    from tests.security.conftest import signup

    owner = await signup(admin_client, account_id=account_id)
    viewer = await signup(admin_client)
    admin_client.cookies.clear()
    as_owner = bearer(owner["token"])
    as_viewer = bearer(viewer["token"])
    assert (await admin_client.get("/auth/me", headers=as_viewer)).json()["accounts"] == []

    added = await admin_client.put(
        f"/api/v1/accounts/{account_id}/members",
        json={"email": viewer["email"], "role": "dashboard"},
        headers=as_owner,
    )
    assert added.status_code == 200, added.text
    # The same login sees the new account at once: memberships are read per request.
    accounts = (await admin_client.get("/auth/me", headers=as_viewer)).json()["accounts"]
    assert [(row["account_id"], row["role"]) for row in accounts] == [(account_id, "dashboard")]
    assert (
        await admin_client.get(f"/api/v1/accounts/{account_id}/keys", headers=as_viewer)
    ).status_code == 403
    assert (
        await admin_client.put(
            f"/api/v1/accounts/{account_id}/members",
            json={"email": owner["email"], "role": "owner"},
            headers=as_viewer,
        )
    ).status_code == 403

    members = (
        await admin_client.get(f"/api/v1/accounts/{account_id}/members", headers=as_owner)
    ).json()
    assert {(row["email"], row["role"]) for row in members} == {
        (owner["email"], "owner"),
        (viewer["email"], "dashboard"),
    }
    demote_self = await admin_client.put(
        f"/api/v1/accounts/{account_id}/members",
        json={"email": owner["email"], "role": "dashboard"},
        headers=as_owner,
    )
    assert demote_self.status_code == 409
    unknown = await admin_client.put(
        f"/api/v1/accounts/{account_id}/members",
        json={"email": "nobody-here@example.com", "role": "dashboard"},
        headers=as_owner,
    )
    assert unknown.status_code == 422

    removed = await admin_client.delete(
        f"/api/v1/accounts/{account_id}/members/{viewer['user']['user_id']}", headers=as_owner
    )
    assert removed.status_code == 204
    assert (await admin_client.get("/auth/me", headers=as_viewer)).json()["accounts"] == []
    assert (
        await admin_client.get(f"/api/v1/accounts/{account_id}/members", headers=as_viewer)
    ).status_code == 403


async def test_key_use_is_recorded(
    admin_client: Client, admin_headers: dict[str, str], make_key: KeyMaker, account_id: str
) -> None:
    key = await make_key(account_id, "integration")
    listed = (
        await admin_client.get(f"/api/v1/accounts/{account_id}/keys", headers=admin_headers)
    ).json()
    assert listed[0]["last_used_at"] is None
    assert (await admin_client.get("/auth/me", headers=bearer(key))).status_code == 200
    listed = (
        await admin_client.get(f"/api/v1/accounts/{account_id}/keys", headers=admin_headers)
    ).json()
    assert listed[0]["last_used_at"] is not None
