"""Telling open sockets that a credential was revoked, so they close (1008) at once.

The live service (``ofca.services.live``, owned by ingestion) subscribes sockets to their
account's channels and closes those whose credential is announced here. Until it exists,
revocation still takes effect at each socket's next authentication.
"""

from __future__ import annotations

import importlib
import logging

from litestar.datastructures import State

__all__ = ["announce_revoked"]

log = logging.getLogger(__name__)


async def announce_revoked(state: State, account_id: str, credential_id: str) -> bool:
    """Publish the revocation; ``False`` when no live service can carry it (logged)."""
    try:
        live = importlib.import_module("ofca.services.live")
    except ImportError:
        return False
    publish = getattr(live, "publish_credential_revoked", None)
    if publish is None:
        return False
    try:
        await publish(state, account_id, credential_id)
    except Exception as exc:  # the revocation itself is stored; sockets re-check later
        log.warning(
            "could not announce revocation of %s on %s: %s",
            credential_id,
            account_id,
            type(exc).__name__,
        )
        return False
    return True
