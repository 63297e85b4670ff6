"""``python -m bot recommend ...``: import the shop's catalogue and events, train, evaluate.

Every command prints JSON on stdout; progress and errors go to stderr.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bot.app._cli_settings import cli_settings
from bot.app._container import recommend_service
from bot.recommend import (
    EVENT_FORMATS,
    MODELS,
    OPTIONAL_MODELS,
    RecommendError,
    RecommendService,
    evaluate,
)
from bot.storage import Database
from knowledge import E5Embedder

recommend_app = typer.Typer(
    help="Recommendations: import, train, evaluate (JSON on stdout).", no_args_is_help=True
)
T = TypeVar("T")


def _echo(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _with_service(work: Callable[[RecommendService], Awaitable[T]]) -> T:
    settings = cli_settings()

    async def run() -> T:
        database = Database(settings.hub_database_url)
        try:
            await database.migrate()
            return await work(recommend_service(settings, database))
        finally:
            database.dispose()

    try:
        return asyncio.run(run())
    except RecommendError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc


@recommend_app.command("import-catalogue")
def import_catalogue(path: Path) -> None:
    """Add or update products from a CSV, JSON or JSON-lines file; bad rows are listed."""
    _echo(asdict(_with_service(lambda service: service.import_catalogue(path))))


@recommend_app.command("import-events")
def import_events(
    path: Path,
    fmt: Annotated[
        str, typer.Option("--format", help=f"One of {', '.join(EVENT_FORMATS)}.")
    ] = "csv",
) -> None:
    """Add interaction events (views, clicks, purchases, ratings…); bad rows are listed."""
    _echo(asdict(_with_service(lambda service: service.import_events(path, fmt))))


@recommend_app.command("train")
def train() -> None:
    """Fit every model on the stored events and save a new version (a running hub picks it
    up within ``BOT_RECOMMEND_REFRESH_S``)."""
    _echo(asdict(_with_service(lambda service: service.train())))


@recommend_app.command("eval")
def eval_command(
    ratings: Annotated[Path, typer.Option(help="Ratings or events file.")],
    fmt: Annotated[str, typer.Option("--format", help="movielens (u.data), csv or jsonl.")] = (
        "movielens"
    ),
    k: Annotated[int, typer.Option(min=1, max=100)] = 10,
    test_ratio: Annotated[float, typer.Option(min=0.05, max=0.5)] = 0.25,
    seed: int = 42,
    models: Annotated[
        str | None,
        typer.Option(
            help=f"Comma-separated, of {', '.join(MODELS)}; default all. "
            f"Also {', '.join(OPTIONAL_MODELS)} (ALS trained on Spark; only when named)."
        ),
    ] = None,
    catalogue: Annotated[
        Path | None, typer.Option(help="Item texts for the content model (CSV/JSON).")
    ] = None,
) -> None:
    """Precision, recall, nDCG and MAP at k, coverage, diversity, novelty and training time of
    every model on a per-user random split, beside popularity and random."""
    chosen = [m.strip() for m in models.split(",") if m.strip()] if models else None
    try:
        report = evaluate(
            ratings,
            fmt=fmt,
            k=k,
            test_ratio=test_ratio,
            seed=seed,
            models=chosen,
            catalogue_path=catalogue,
            embedder=E5Embedder() if catalogue else None,
        )
    except RecommendError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    _echo(report)
