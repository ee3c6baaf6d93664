"""``ofca demo`` / ``ofca serve --demo``: a realistic synthetic account, ingested exactly like
live data (the extension's ``cache_update`` through the ingest service: stored, enriched,
insights refreshed), plus a dashboard key and an owner key to look at it."""

from __future__ import annotations

import time
from typing import Any, cast

from ofca.channels.plugin import OfcaChannelsPlugin
from ofca.conversations.live_nodes import LiveFeed
from ofca.ingest.context import Ingest
from ofca.ingest.snapshot import ingest_snapshot, wait_enriched
from ofca.insights.scheduler import InsightsScheduler
from ofca.persistence.accounts import ensure_account
from ofca.persistence.keys import create_api_key
from ofca.settings import Settings, load_settings
from ofca.synthetic import cache_update_frame, generate_account

__all__ = ["load_demo"]


class _NoLiveDelivery:
    """Stands in for the channels plugin outside a running server: nobody is listening."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    healthy = True

    def publish(self, data: Any, channels: Any) -> None:
        return None


async def load_demo(account_id: str, messages: int = 5000, seed: int = 7) -> str:
    """Create ``account_id`` if missing, ingest a synthetic inbox of ``messages`` messages and
    return a short report with freshly created keys (shown once)."""
    settings = load_settings()
    account = await ensure_account(account_id, "Demo creator" if account_id == "demo" else "")
    began = time.perf_counter()
    synthetic = generate_account(messages, seed=seed)
    channels = cast(OfcaChannelsPlugin, _NoLiveDelivery(settings))
    ingest = Ingest(
        settings, channels, InsightsScheduler(settings, channels), LiveFeed(settings.triage)
    )
    ack = await ingest_snapshot(ingest.context(account.account_id), cache_update_frame(synthetic))
    await wait_enriched()
    elapsed = time.perf_counter() - began
    _, dashboard_key = await create_api_key(
        account_id=account.account_id, role="dashboard", name="demo dashboard"
    )
    _, owner_key = await create_api_key(
        account_id=account.account_id, role="owner", name="demo owner"
    )
    return "\n".join(
        [
            f"demo account {account.account_id}: {len(synthetic.chats)} chats, "
            f"{len(synthetic.messages)} messages over the last 90 days",
            f"  stored: {ack.accepted} new, {ack.updated} updated, {ack.duplicates} unchanged; "
            f"enriched and analysed in {elapsed:.1f} s",
            f"  dashboard key (shown once): {dashboard_key}",
            f"  owner key (shown once):     {owner_key}",
            '  to sign in: open the dashboard, choose the "API key" tab, paste the dashboard',
            f"  key and, if asked, the account id {account.account_id}",
            f"  live dashboard socket: /ws/frontend/{account.account_id}?token=<dashboard key>",
        ]
    )
