"""Telling open sockets that a credential was revoked, so they close (1008) at once.

Revocation itself is stored first (keys, login sessions); this only hurries it along:
a socket that misses the announcement (its process lost Redis) still closes at its next
credential re-check.
"""

from __future__ import annotations

import logging

from ofca.channels.plugin import OfcaChannelsPlugin
from ofca.channels.publish import publish_credential_revoked

__all__ = ["announce_revoked"]

log = logging.getLogger(__name__)


def announce_revoked(channels: OfcaChannelsPlugin, account_id: str, credential_id: str) -> bool:
    """Publish the revocation; ``False`` when it could not be queued (logged)."""
    try:
        publish_credential_revoked(channels, account_id, credential_id)
    except Exception as exc:  # the revocation itself is stored; sockets re-check later
        log.warning(
            "could not announce revocation of %s on %s: %s",
            credential_id,
            account_id,
            type(exc).__name__,
        )
        return False
    return True
