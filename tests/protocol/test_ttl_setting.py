"""``OFCA_SNAPSHOT_TTL_SECONDS`` is validated at start-up like every setting."""

from __future__ import annotations

import pytest

from ofca.settings import SettingsError, load_settings


def test_snapshot_ttl_default_and_bounds() -> None:
    assert load_settings({}, dotenv=None).snapshot_ttl_seconds == 3600.0
    assert (
        load_settings({"OFCA_SNAPSHOT_TTL_SECONDS": "90"}, dotenv=None).snapshot_ttl_seconds == 90
    )
    for bad in ("0", "-5", "soon", "700000"):
        with pytest.raises(SettingsError, match="OFCA_SNAPSHOT_TTL_SECONDS"):
            load_settings({"OFCA_SNAPSHOT_TTL_SECONDS": bad}, dotenv=None)
