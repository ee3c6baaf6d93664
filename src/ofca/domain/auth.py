"""Who may do what: roles, the authenticated principal and the permission table (pure)."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = [
    "ROLE_PERMISSIONS",
    "Permission",
    "Principal",
    "Role",
    "has_permission",
    "session_principal",
]

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
    account_roles: tuple[tuple[str, Role], ...] = ()
    """For a human login: ``(account_id, role)`` per membership; ``role`` is then the
    least privileged of them, and :meth:`role_in` answers per account."""

    def allows(self, permission: Permission) -> bool:
        return has_permission(self.role, permission)

    @property
    def is_admin(self) -> bool:
        """``OFCA_ADMIN_KEY`` or a CLI-created admin key."""
        return self.role == "admin"

    def role_in(self, account_id: str) -> Role | None:
        """This caller's role in ``account_id``, or ``None`` when it has no access to it."""
        for member_of, role in self.account_roles:
            if member_of == account_id:
                return role
        if self.account_id == account_id and not self.is_admin:
            return self.role
        return None

    def allows_in(self, account_id: str, permission: Permission) -> bool:
        role = self.role_in(account_id)
        return role is not None and has_permission(role, permission)


def has_permission(role: str, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def session_principal(
    *, session_row_id: int, user_id: str, memberships: list[tuple[str, Role]]
) -> Principal:
    """The principal of a login: bound to its only account, or to none when it has several
    (each call then names one via ``scope_account``)."""
    ordered = tuple(sorted(memberships))
    roles = {role for _, role in ordered}
    # A single summary role must never grant more than every membership does.
    role: Role = "owner" if roles == {"owner"} else "dashboard"
    return Principal(
        kind="session",
        role=role,
        account_id=ordered[0][0] if len(ordered) == 1 else None,
        credential_id=f"session:{session_row_id}",
        user_id=user_id,
        account_ids=tuple(account for account, _ in ordered),
        account_roles=ordered,
    )
