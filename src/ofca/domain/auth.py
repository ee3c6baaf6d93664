"""Who may do what: roles, the authenticated principal and the permission table (pure)."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["ROLE_PERMISSIONS", "Permission", "Principal", "Role", "has_permission"]

Role = Literal["owner", "extension", "dashboard", "integration", "admin"]
Permission = Literal["ingest", "read", "live", "webhook", "command", "manage", "delete", "admin"]

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    # The account's owner may do everything for that account.
    "owner": frozenset({"ingest", "read", "live", "webhook", "command", "manage", "delete"}),
    # The browser extension only feeds data in (and receives commands on its socket).
    "extension": frozenset({"ingest"}),
    "dashboard": frozenset({"read", "live", "command"}),
    "integration": frozenset({"read", "live", "webhook"}),
    # Admin keys manage accounts and keys; they read no chat data by themselves.
    "admin": frozenset({"admin"}),
}

KEY_ROLES: tuple[Role, ...] = ("owner", "extension", "dashboard", "integration")
"""Roles an account's API key can have (admin keys come from OFCA_ADMIN_KEY or the CLI)."""


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """The caller of a request or socket, after authentication."""

    kind: Literal["api_key", "session", "admin"]
    role: Role
    account_id: str | None
    """The account this credential is bound to (``None`` for admin)."""
    credential_id: str
    """Key id or login session id: what revocation and rate limits are keyed by."""
    user_id: str | None = None
    account_ids: tuple[str, ...] = ()
    """For a human login: every account the user may switch to."""

    def allows(self, permission: Permission) -> bool:
        return has_permission(self.role, permission)


def has_permission(role: str, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS.get(role, frozenset())
