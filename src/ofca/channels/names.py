"""Channel names, per account. Redis pub/sub ignores the backend's key_prefix, so ofca
prefixes names itself (``OFCA_CHANNEL_PREFIX``). Account ids are restricted to
``[A-Za-z0-9_.-]`` at creation, so a name cannot be forged to reach another account."""

from __future__ import annotations

__all__ = ["dashboard_channel", "extension_channel"]


def dashboard_channel(prefix: str, account_id: str) -> str:
    """Everything an account's dashboards and integrations receive."""
    return f"{prefix}:acct:{account_id}:live"


def extension_channel(prefix: str, account_id: str) -> str:
    """Commands for an account's connected extensions."""
    return f"{prefix}:acct:{account_id}:ext"
