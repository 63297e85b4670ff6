"""Campaign sends keep to each channel's send rate: the rates (documented defaults, settings
over them), the pace's decisions on a real ``limits`` storage, and a campaign of ten Telegram
customers at 3 a second through the hub as wired (real app, real SQLite, a local server standing
in for Telegram's API and Rasa): paced, the recipients over the rate deferred and counted,
none lost, none sent twice."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from bot.app import Settings, create_app
from bot.app._container import HubServices
from bot.marketing import (
    APP_CHANNELS,
    SEND_RATES,
    InvalidMarketingRequest,
    SendPace,
    send_rates,
)
from tests.app_standin import AppStandIn, drain
from tests.test_marketing_campaigns_hub import KEY, TELEGRAM_SECRET, api, telegram_says
from tests.test_marketing_delivery import approved, audience, no_deliveries

RATE = 3  # messages a second on Telegram, in these tests
CHATS = [2001 + n for n in range(10)]


def test_every_messaging_app_has_a_documented_default_rate() -> None:
    rates = send_rates({})
    assert set(APP_CHANNELS) <= set(rates)
    assert {key: [str(item) for item in items] for key, items in rates.items()} == {
        "telegram": ["25 per 1 second"],
        "slack": ["1 per 1 second"],
        "wechat": ["400000 per 1 day"],
        "wechat:template_message": ["80000 per 1 day"],
        "wecom": ["32000 per 1 day"],
        "feishu": ["40 per 1 second", "800 per 1 minute"],
        "dingtalk": ["16 per 1 second"],
    }
    assert set(SEND_RATES) == set(rates)


def test_settings_change_lift_and_add_rates() -> None:
    rates = send_rates({"telegram": "10/second", "slack": "none", "email": "2000/day"})
    assert [str(i) for i in rates["telegram"]] == ["10 per 1 second"]
    assert "slack" not in rates
    assert [str(i) for i in rates["email"]] == ["2000 per 1 day"]


@pytest.mark.parametrize("bad", ["fast", "10", "10/fortnight", "-1/second", "10/second;"])
def test_a_rate_the_pace_cannot_read_is_refused_at_start(bad: str) -> None:
    with pytest.raises(InvalidMarketingRequest, match="must read like '25/second'"):
        send_rates({"telegram": bad})
    with pytest.raises(ValidationError, match="BOT_MARKETING_SEND_RATES: the send rate of"):
        Settings(_env_file=None, marketing_send_rates={"telegram": bad})  # type: ignore[call-arg]


def test_an_unusable_pace_storage_is_named() -> None:
    with pytest.raises(InvalidMarketingRequest, match="storage 'nowhere' is not usable"):
        SendPace(send_rates({}), "nowhere://x")


async def test_the_pace_counts_sends_and_says_when_the_next_place_frees() -> None:
    pace = SendPace(send_rates({"telegram": "2/minute", "wecom": "5000/day"}))
    assert await pace.room("telegram") == 2
    assert [await pace.take("telegram") for _ in range(3)] == [True, True, False]
    assert await pace.room("telegram") == 0
    assert 55 < await pace.wait("telegram") <= 60  # a minute after the first of the two
    # A long quota (a sliding-window counter) counts the same way.
    assert [await pace.take("wecom") for _ in range(3)] == [True, True, True]
    assert await pace.room("wecom") == 4997
    assert await pace.wait("wecom") == 0
    # An unpaced channel (web chat) is never held back.
    assert (await pace.room("webchat"), await pace.take("webchat")) == (None, True)
    assert await pace.wait("webchat") == 0


@pytest.fixture
def client(tmp_path: Path, stand_in: AppStandIn) -> Iterator[TestClient]:
    values: dict[str, Any] = {
        "var_dir": tmp_path,
        "rasa_port": stand_in.port,
        "actions_port": stand_in.port,
        "api_key": KEY,
        "marketing_quiet_hours": "00:00-00:00",
        "marketing_send_every_s": 3600.0,  # the tests run the campaign job themselves
        "marketing_send_rates": {"telegram": f"{RATE}/second"},
        "telegram_bot_token": "123456:ABC-test",
        "telegram_secret_token": TELEGRAM_SECRET,
        "telegram_bot_username": "shop_bot",
        "telegram_api_url": stand_in.url,
        "outbox_retry_s": 3600.0,
    }
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_a_campaign_keeps_to_the_channels_rate_and_loses_nobody(
    client: TestClient, stand_in: AppStandIn
) -> None:
    """Ten customers at 3 a second. ``POST /campaigns/run`` does not wait: three go, seven
    are deferred (pending, counted). The job's run waits for each next free place: the seven
    go, in the rate's steps. Paced: the campaign notes each send's time before the pace counts
    it, the outbox after Telegram took it, so any message and the third after it are at
    least a second apart in what was recorded, whatever the machine's load."""
    hub: HubServices = client.app.state.services  # type: ignore[attr-defined]
    portal = client.portal
    assert portal is not None
    for n, chat in enumerate(CHATS, start=1):
        telegram_says(client, "hello", update_id=n, chat=chat)
    drain(client)
    stand_in.wait_for(lambda: len(stand_in.sent) == len(CHATS), "the bot's echoes")
    audience(
        client,
        [{"customer_id": str(c), "channel": "telegram", "language": "zh"} for c in CHATS],
    )
    [variant] = approved(client, 1)
    campaign = api(
        client,
        "POST",
        "/campaigns",
        json={"name": "paced", "segment": "true", "variants": {"main": [variant]}},
    )

    run = api(client, "POST", "/campaigns/run")
    assert run == {"recipients_added": 10, "outcomes": {"sent": RATE, "rate_limited": 7}}
    report = api(client, "GET", f"/campaigns/{campaign['id']}")
    assert report["statuses"] == {"sent": RATE, "pending": 7}
    assert report["reasons"] == {"rate_limited": 7}
    assert (report["deferred"], report["deferrals"]) == (7, 7)
    [arm] = report["arms"]
    assert (arm["sent"], arm["deferred"]) == (RATE, 7)

    later = portal.call(hub.campaigns.run_due)  # the job: it waits for the rate's free places
    assert later.outcomes["sent"] == 7
    drain(client)
    report = api(client, "GET", f"/campaigns/{campaign['id']}")
    assert report["statuses"] == {"sent": 10}
    assert report["campaign"]["status"] == "done"
    assert report["delivery"] == no_deliveries(sent=10)
    assert report["deferred"] == 7  # the same seven, each held back once or more
    assert report["deferrals"] >= 7
    assert report["reasons"] == {}

    # Nobody lost, nobody twice: each chat got the bot's echo and one campaign message.
    copy = [t for t in stand_in.texts() if not t.startswith("echo")]
    assert len(copy) == len(CHATS)
    chats = [s.body["chat_id"] for s in stand_in.sent if not s.body["text"].startswith("echo")]
    assert sorted(str(c) for c in chats) == sorted(str(c) for c in CHATS)

    # Paced: the k-th send after any send went out at least a second after it.
    handed = {r["customer_id"]: r["sent_at"] for r in report["recipients"]}
    # Each chat's latest outbox message (oldest first: the campaign's comes after the echo).
    taken = {
        m.recipient: m.sent_at
        for m in portal.call(hub.outbox.messages, "telegram")
        if m.sent_at is not None
    }
    order = sorted(handed, key=lambda c: handed[c])
    for first, later_one in zip(order, order[RATE:], strict=False):
        gap = taken[later_one] - datetime.fromisoformat(handed[first])
        assert gap >= timedelta(seconds=1), (first, later_one, gap)
    spread = taken[order[-1]] - datetime.fromisoformat(handed[order[0]])
    assert spread >= timedelta(seconds=math.ceil(len(CHATS) / RATE) - 1)
