"""Human logins: users, their memberships in accounts (with a role) and login sessions."""

from __future__ import annotations

from typing import Any

from piccolo.columns import Timestamptz, Varchar
from piccolo.engine.base import Engine
from piccolo.table import Table


class User(Table, tablename="ofca_user"):
    user_id = Varchar(length=40, unique=True, index=True)
    email = Varchar(length=320, unique=True, index=True)
    name = Varchar(length=200, default="")
    password_hash = Varchar(length=300)
    created_at = Timestamptz()
    disabled_at = Timestamptz(null=True, default=None)


class Membership(Table, tablename="ofca_membership"):
    user_id = Varchar(length=40, index=True)
    account_id = Varchar(length=200, index=True)
    role = Varchar(length=20)
    created_at = Timestamptz()


class LoginSession(Table, tablename="ofca_login_session"):
    session_hash = Varchar(length=64, unique=True, index=True)
    user_id = Varchar(length=40, index=True)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)


INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS ofca_membership_user_account "
    "ON ofca_membership (user_id, account_id)",
)


async def forwards(engine: Engine[Any]) -> None:
    for table in (User, Membership, LoginSession):
        table._meta.db = engine
        await table.create_table(if_not_exists=True).run()
    for statement in INDEXES:
        await engine.run_ddl(statement)
