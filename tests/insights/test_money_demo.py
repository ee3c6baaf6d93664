"""The synthetic (demo) account has money to show: PPV offers some of which were unlocked
later, tips, the three chatters on shifts, and a few whales; the new endpoints answer with
all of it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from ofca.settings import SettingsError, load_settings
from ofca.synthetic import CHATTERS, generate_account


def test_synthetic_money_is_realistic() -> None:
    account = generate_account(3000, seed=7)
    offers = [m for m in account.messages if m.get("isFree") is False and m.get("price")]
    unlocked = [m for m in offers if m.get("isOpened")]
    assert 0.25 < len(unlocked) / len(offers) < 0.65
    assert all(m["changedAt"] > m["createdAt"] for m in unlocked)  # unlocked later
    operators = {m["operator"]["name"] for m in account.messages if "operator" in m}
    assert operators == {c["name"] for c in CHATTERS}
    spend: dict[Any, float] = {}
    for m in account.messages:
        if m.get("isTip") or m.get("isOpened"):
            spend[m["chat_id"]] = spend.get(m["chat_id"], 0.0) + m["price"]
    whales = [chat for chat, total in spend.items() if total >= 100]
    assert 3 <= len(whales) < len(account.chats) / 2
    again = generate_account(3000, seed=7)
    assert [m.get("operator") for m in again.messages] == [
        m.get("operator") for m in account.messages
    ]


async def test_demo_account_shows_money(
    client: AsyncTestClient[Litestar],
    account_id: str,
    make_key: Any,
    backend_env: dict[str, str],
) -> None:
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ofca.cli", "demo", "--account", account_id, "--messages", "1500"],
        env={**os.environ, **backend_env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    key = await make_key(account_id, "owner")
    headers = {"Authorization": f"Bearer {key}"}
    revenue = (
        await client.get("/api/v1/insights/revenue", headers=headers, params={"time_range": "90d"})
    ).json()["current"]
    assert revenue["gross"] > 0 and revenue["ppv_purchased"] > 0 and revenue["tips"] > 0
    chatters = (
        await client.get("/api/v1/insights/chatters", headers=headers, params={"time_range": "90d"})
    ).json()["chatters"]
    assert {row["name"] for row in chatters} >= {"Alex", "Sam", "Jo"}
    assert round(sum(row["revenue"] for row in chatters), 6) == round(revenue["gross"], 6)


def test_money_settings_are_validated_at_start_up() -> None:
    settings = load_settings({}, dotenv=None)
    assert (settings.platform_fee_percent, settings.whale_spend, settings.tip_credit_hours) == (
        20.0, 100.0, 24.0,
    )  # fmt: skip
    assert settings.triage.whale_spend == 100.0
    custom = load_settings(
        {"OFCA_PLATFORM_FEE_PERCENT": "0", "OFCA_WHALE_SPEND": "250", "OFCA_TIP_CREDIT_HOURS": "6"},
        dotenv=None,
    )
    assert (custom.platform_fee_percent, custom.whale_spend, custom.tip_credit_hours) == (
        0.0, 250.0, 6.0,
    )  # fmt: skip
    for name, value in (
        ("OFCA_PLATFORM_FEE_PERCENT", "101"),
        ("OFCA_PLATFORM_FEE_PERCENT", "-1"),
        ("OFCA_WHALE_SPEND", "0"),
        ("OFCA_TIP_CREDIT_HOURS", "soon"),
    ):
        with pytest.raises(SettingsError, match=name):
            load_settings({name: value}, dotenv=None)
