"""The budget planner on the shop's own campaign results (real SQLite, the real campaign job
sending e-mail to a real SMTP server, orders attributed as the orders module reports them):
each (saved segment, channel) cell's rate is learnt from what was sent to it, the plan puts
the budget where the posterior expects most conversions, and bad requests say what is wrong;
over HTTP and on the command line too."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.app._cli import app
from bot.marketing import BudgetPlanner, CampaignDraft, Contact, InvalidMarketingRequest
from bot.marketing._budget import PRIOR_SENDS
from tests.test_marketing_api import AUTH, client, grant, services
from tests.test_marketing_campaigns import Shop, approved, email_contact, shop, smtp

__all__ = ["client", "shop", "smtp"]  # fixtures


async def campaign_results(shop: Shop) -> None:
    """Two saved segments of 20 e-mail customers each, a campaign to each; 10 of the "vip"
    recipients buy and 1 of the "lapsed" ones. Ten more "vip" customers are on the REST
    channel, which this shop's campaigns cannot reach (e-mail only): failed, nothing sent."""
    variant = await approved(shop)
    for group in ("vip", "lapsed"):
        for i in range(20):
            await email_contact(shop, f"{group}{i:02d}", tags=frozenset({group}))
        await shop.marketing.save_segment(group, f'"{group}" in tags')
    for i in range(10):
        await shop.marketing.upsert_contact(Contact(f"rest{i}", "rest", tags=frozenset({"vip"})))
        await shop.consents.grant(f"rest{i}", "marketing", "rest")
    for group in ("vip", "lapsed"):
        await shop.campaigns.create(CampaignDraft(group, f'"{group}" in tags', {"main": [variant]}))
    assert (await shop.campaigns.run_due()).outcomes == {"sent": 40, "failed": 10}
    buyers = [f"vip{i:02d}" for i in range(10)] + ["lapsed00"]
    for n, customer in enumerate(buyers):
        assert await shop.campaigns.attribute_order(customer, f"order-{n}", 100.0) is not None


def posterior_mean(sent: int, converted: int, prior: float) -> float:
    return (PRIOR_SENDS * prior + converted) / (PRIOR_SENDS + sent)


async def test_the_plan_learns_each_cell_from_its_campaigns_and_spends_where_it_pays(
    shop: Shop,
) -> None:
    await campaign_results(shop)
    planner = BudgetPlanner(shop.database, shop.marketing)
    plan = await planner.plan(25.0, {"email": 1.0, "rest": 1.0})
    prior = (11 + 1) / (40 + 2)  # every cell's sends and conversions, pooled
    assert plan.prior_rate == pytest.approx(prior)
    cells = {(c.segment, c.channel): c for c in plan.cells}
    assert {k: (c.reachable, c.sent, c.conversions) for k, c in cells.items()} == {
        ("lapsed", "email"): (20, 20, 1),
        ("lapsed", "rest"): (0, 0, 0),
        ("vip", "email"): (20, 20, 10),
        ("vip", "rest"): (10, 0, 0),
    }
    assert cells["vip", "email"].rate == pytest.approx(posterior_mean(20, 10, prior))
    assert cells["lapsed", "email"].rate == pytest.approx(posterior_mean(20, 1, prior))
    assert cells["vip", "rest"].rate == pytest.approx(prior)  # untried: the shop's usual rate
    low, high = cells["vip", "email"].interval
    assert low < cells["vip", "email"].rate < high
    # The best cell is filled first, then the untried one at the pooled rate; none for the
    # lapsed customers, who bought least.
    assert {k: c.sends for k, c in cells.items()} == {
        ("lapsed", "email"): 0,
        ("lapsed", "rest"): 0,
        ("vip", "email"): 20,
        ("vip", "rest"): 5,
    }
    assert plan.spend == 25.0
    expected = 20 * cells["vip", "email"].rate + 5 * prior
    assert plan.expected_conversions == pytest.approx(expected)
    # An even split (6 a cell, none where nobody can be reached) expects fewer.
    even = 6 * (cells["vip", "email"].rate + cells["lapsed", "email"].rate + prior)
    assert plan.even_split_conversions == pytest.approx(even)
    assert plan.expected_conversions > plan.even_split_conversions
    # A cheaper channel changes the plan: the budget now reaches every vip on both channels.
    cheap = await planner.plan(25.0, {"email": 1.0, "rest": 0.5}, ["vip"])
    assert [(c.channel, c.sends) for c in cheap.cells] == [("email", 20), ("rest", 10)]
    assert cheap.spend == 25.0


@pytest.mark.parametrize(
    ("budget", "costs", "segments", "error"),
    [
        (0.0, {"email": 1.0}, [], "budget must be more than 0"),
        (float("nan"), {"email": 1.0}, [], "budget must be more than 0"),
        (10.0, {}, [], "give the cost per message of at least one channel"),
        (10.0, {"email": -1.0}, [], "the cost per message must be more than 0"),
        (10.0, {"email": 1.0}, ["nobody"], "no saved segment is named 'nobody'"),
        (10.0, {"sms": 1.0}, [], "nobody in these segments has a marketing opt-in"),
    ],
)
async def test_bad_plans_say_what_is_wrong(
    shop: Shop, budget: float, costs: dict[str, float], segments: list[str], error: str
) -> None:
    await shop.marketing.save_segment("everyone", "true")
    await email_contact(shop, "ann")
    with pytest.raises(InvalidMarketingRequest, match=error):
        await BudgetPlanner(shop.database, shop.marketing).plan(budget, costs, segments)


async def test_without_saved_segments_or_results_the_planner_says_what_to_do_first(
    shop: Shop,
) -> None:
    planner = BudgetPlanner(shop.database, shop.marketing)
    with pytest.raises(InvalidMarketingRequest, match="no segment is saved yet"):
        await planner.plan(10.0, {"email": 1.0})
    await shop.marketing.save_segment("everyone", "true")
    await email_contact(shop, "ann")
    with pytest.raises(InvalidMarketingRequest, match="send a first \\(pilot\\) campaign"):
        await planner.plan(10.0, {"email": 1.0})


def test_the_plan_over_http_refuses_what_it_cannot_plan(client: TestClient) -> None:
    """Over HTTP (the plan itself is shown in the console's browser test, after a campaign)."""
    assert client.portal is not None
    hub = services(client)
    for i in range(3):
        client.portal.call(hub.marketing.upsert_contact, Contact(f"c{i}", "rest"))
        grant(client, f"c{i}", "rest")
    client.portal.call(hub.marketing.save_segment, "all", "true")
    body: dict[str, Any] = {"budget": 2, "cost": {"rest": 1}}
    assert client.post("/api/marketing/budget/plan", json=body).status_code == 401
    for bad, status, detail in [
        (body, 422, "send a first (pilot) campaign"),
        ({"budget": -1, "cost": {"rest": 1}}, 422, "greater than 0"),
        ({"budget": 1, "cost": {}}, 422, "at least 1 item"),
        ({"budget": 1, "cost": {"rest": 1}, "segments": ["<x>"]}, 422, "no saved segment"),
        ({"budget": 1, "cost": {"rest": 1}, "extra": 1}, 422, "unknown field 'extra'"),
    ]:
        response = client.post("/api/marketing/budget/plan", json=bad, headers=AUTH)
        assert response.status_code == status
        assert detail in str(response.json()["detail"])


async def test_the_budget_command_prints_the_plan(
    shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_VAR_DIR", str(tmp_path))  # the shop fixture's hub.db is there
    await campaign_results(shop)
    # The command runs its own event loop: in a thread, beside the test's.
    printed = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["marketing", "budget", "25", "--cost", "email=1", "--cost", "rest=1"],
    )
    assert printed.exit_code == 0, printed.output
    assert '"expected_conversions"' in printed.output
    assert '"segment": "vip"' in printed.output
    wrong = await asyncio.to_thread(
        CliRunner().invoke, app, ["marketing", "budget", "25", "--cost", "email"]
    )
    assert wrong.exit_code == 2
    assert "--cost takes channel=cost per message" in wrong.output
