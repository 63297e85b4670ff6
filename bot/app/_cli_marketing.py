"""``python -m bot marketing ...``: preview a segment, report a campaign, size an experiment,
run the simulator.

Each command prints one JSON object on stdout; bad input exits with code 2 and says what is
wrong.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from bot.app._cli_settings import cli_settings
from bot.app._container import marketing_config, recommend_service
from bot.app._marketing import anonymous_webchat, campaigns_of
from bot.app._settings import Settings
from bot.marketing import (
    BudgetPlanner,
    CopyChecker,
    MarketingError,
    MarketingService,
    Product,
    regret_png,
    sample_size,
    score_checker,
    simulate_allocation,
    simulate_bidding,
    simulate_campaign,
    simulate_waves,
)
from bot.outbox import Outbox
from bot.privacy import ConsentService
from bot.recommend import CATALOGUE, load_catalogue
from bot.storage import Database

marketing_app = typer.Typer(
    help="Marketing: segment previews, campaign reports, experiment sizes, the simulator "
    "(JSON on stdout).",
    no_args_is_help=True,
)


def _fail(detail: str) -> NoReturn:
    typer.echo(json.dumps({"error": "bad_request", "detail": detail}, ensure_ascii=False), err=True)
    raise typer.Exit(code=2)


def _echo(result: dict[str, Any]) -> None:
    typer.echo(json.dumps(result, ensure_ascii=False, indent=1, default=str))


@marketing_app.command()
def preview(
    expression: Annotated[str, typer.Argument(help="A segment, e.g. 'language == \"zh\"'.")],
    sample: Annotated[int, typer.Option(help="Members to show (0-100).")] = 10,
) -> None:
    """Count the audience a segment matches and may reach, with sample members."""

    async def work(settings: Settings, database: Database) -> dict[str, Any]:
        found = await _marketing(settings, database).preview(expression, sample)
        return {
            "expression": found.expression,
            "audience": found.audience,
            "matched": found.matched,
            "reachable": found.reachable,
            "sample": [p.as_json() for p in found.sample],
            "excluded": [asdict(e) for e in found.excluded],
        }

    _on_hub_database(work)


@marketing_app.command()
def report(
    campaign_id: Annotated[
        int, typer.Argument(help="The campaign's id (GET /api/marketing/campaigns).")
    ],
    recipients: Annotated[bool, typer.Option(help="List the recipients too (first 500).")] = False,
) -> None:
    """A campaign's results as GET /api/marketing/campaigns/{id} gives them: recipients by status
    and reason, deliveries (queued, sent = accepted by the channel, delivered, read, failed) and
    what each channel reports at all, recipients deferred by the channels' send rates, clicks,
    conversions; in total and per arm. The news of queued app messages is read first."""

    async def work(settings: Settings, database: Database) -> dict[str, Any]:
        marketing = _marketing(settings, database)
        campaigns = campaigns_of(settings, database, marketing, None, outbox=Outbox(database))
        found = asdict(await campaigns.report(campaign_id))
        if not recipients:
            found.pop("recipients")
        return found

    _on_hub_database(work)


@marketing_app.command()
def budget(
    amount: Annotated[float, typer.Argument(help="The budget, in the shop's currency.")],
    cost: Annotated[
        list[str], typer.Option(help="channel=cost per message, e.g. sms=0.3 (repeatable).")
    ],
    segment: Annotated[
        list[str] | None, typer.Option(help="A saved segment (repeatable; none: all).")
    ] = None,
) -> None:
    """Plan a budget across saved segments and channels from the campaigns' own results (as
    POST /api/marketing/budget/plan): each cell's conversion rate learnt from earlier sends,
    the sends that buy the most expected conversions, an even split's beside them."""
    costs: dict[str, float] = {}
    for pair in cost:
        channel, _, value = pair.partition("=")
        try:
            costs[channel.strip()] = float(value)
        except ValueError:
            _fail(f"--cost takes channel=cost per message, e.g. sms=0.3, not {pair!r}")

    async def work(settings: Settings, database: Database) -> dict[str, Any]:
        planner = BudgetPlanner(database, _marketing(settings, database))
        return asdict(await planner.plan(amount, costs, segment or []))

    _on_hub_database(work)


@marketing_app.command("sample-size")
def sample_size_command(
    baseline: Annotated[float, typer.Argument(help="The control's conversion rate, e.g. 0.05.")],
    lift: Annotated[float, typer.Argument(help="The smallest difference worth finding, 0.01.")],
    alpha: Annotated[float, typer.Option(help="Two-sided false-positive rate.")] = 0.05,
    power: Annotated[float, typer.Option(help="Chance to find a true lift of that size.")] = 0.8,
) -> None:
    """Recipients per arm for a fixed-horizon experiment (use it as the horizon)."""
    try:
        _echo({"per_arm": sample_size(baseline, lift, alpha, power)})
    except MarketingError as exc:
        _fail(str(exc))


@marketing_app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Folder for regret.png and results.json.")] = Path(
        "var/marketing-simulation"
    ),
    seeds: Annotated[int, typer.Option(help="Runs averaged per figure (1-200).")] = 50,
    bid_seeds: Annotated[int, typer.Option(help="Runs of the bidding simulation (1-20).")] = 3,
) -> None:
    """Run the synthetic simulator: a 30-day campaign (Thompson sampling vs a fixed 50/50 split
    vs the oracle, with a regret PNG), a one-off campaign in 1, 4 and 10 waves, the budget
    allocator and the bidding agent."""
    if not 1 <= seeds <= 200 or not 1 <= bid_seeds <= 20:
        _fail("seeds must be 1 to 200 and bid-seeds 1 to 20")
    started = time.perf_counter()
    campaign = simulate_campaign(seeds=seeds)
    figure = regret_png(campaign, out / "regret.png")
    result = {
        "data": "synthetic: every rate, audience and auction is generated with known truth",
        "campaign": {
            "conversions": campaign.conversions,
            "share_of_oracle": campaign.share_of_oracle,
            "final_regret": {k: v[-1] for k, v in campaign.regret.items()},
            "regret_png": str(figure),
            "seeds": seeds,
        },
        "one_off_in_waves": {
            "what": "20,000 recipients, variants 5 % vs 6.5 %, Thompson split per wave",
            **simulate_waves(seeds=seeds),
            "seeds": seeds,
        },
        "allocation": {**simulate_allocation(seeds=seeds), "seeds": seeds},
        "bidding": {**simulate_bidding(seeds=bid_seeds), "seeds": bid_seeds},
        "seconds": round(time.perf_counter() - started, 1),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    _echo(result)


@marketing_app.command("copy-eval")
def copy_eval(
    split: Annotated[
        str,
        typer.Option(
            help="dev, test, blind_dev, blind_test or fresh_test, fresh2_test … fresh5_test "
            "(each read while tuning after its one report); blind_* and fresh* were written by "
            "hand by people who had not read the checker."
        ),
    ] = "test",
) -> None:
    """Score the copy checker on a shipped synthetic split: planted errors caught, clean
    variants wrongly rejected."""
    items, _problems = load_catalogue(CATALOGUE)
    checker = CopyChecker({i.id: Product(i.id, i.name_zh, i.name_en, i.price) for i in items})
    try:
        score = score_checker(checker, split)
    except MarketingError as exc:
        _fail(str(exc))
    _echo(
        {
            "data": "synthetic (bot/marketing/copy_eval/"
            + {"blind": "BLIND.md)", "fresh": "FRESH.md)", "fresh2": "FRESH2.md)"}.get(
                split.split("_")[0], "README.md)"
            ),
            "split": split,
            "variants": score.variants,
            "with_planted_errors": score.with_errors,
            "caught": score.caught,
            "catch_rate": round(score.catch_rate, 4),
            "clean": score.clean,
            "false_rejections": score.false_rejections,
            "false_rejection_rate": round(score.false_rejection_rate, 4),
            "missed": score.missed,
            "wrongly_rejected": score.wrongly_rejected,
            "unscorable_briefs": score.unscorable,
        }
    )


def _on_hub_database(work: Callable[[Settings, Database], Awaitable[dict[str, Any]]]) -> None:
    """Run ``work`` on the hub's database (migrated first) and print its JSON; a marketing
    error is printed as a bad request (exit 2)."""
    settings = cli_settings()

    async def run() -> dict[str, Any]:
        database = Database(settings.hub_database_url)
        try:
            await database.migrate()
            return await work(settings, database)
        finally:
            database.dispose()

    try:
        _echo(asyncio.run(run()))
    except MarketingError as exc:
        _fail(str(exc))


def _marketing(settings: Settings, database: Database) -> MarketingService:
    """The marketing service as the hub builds it, on the command's own database."""
    return MarketingService(
        database,
        ConsentService(database),
        recommend_service(settings, database).profile,
        marketing_config(settings),
        outside_audience=anonymous_webchat(database),
    )
