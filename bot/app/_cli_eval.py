"""The ``eval`` command group: ``python -m bot eval nlu`` and ``python -m bot eval stories``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.app._cli_settings import cli_settings
from bot.dialogue import (
    CONFIG,
    DEV_DATA,
    TEST_DATA,
    TEST_STORIES,
    DialogueError,
    Evaluator,
    evaluate_conversations,
)

eval_app = typer.Typer(
    help="Evaluate NLU and dialogue on held-out data (JSON on stdout).", no_args_is_help=True
)


def _evaluator(config: Path) -> Evaluator:
    return Evaluator(cli_settings().rasa_toolchain, config=config)


def _emit(result: dict[str, Any]) -> None:
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))


@eval_app.command("nlu")
def eval_nlu(
    train: Annotated[
        Path | None,
        typer.Option(help="Outside training data: Rasa NLU YAML or CSV with text,intent."),
    ] = None,
    test: Annotated[Path | None, typer.Option(help="Outside test data, same formats.")] = None,
    oos_label: Annotated[
        str | None, typer.Option(help="Intent of out-of-scope messages in the outside data.")
    ] = None,
    config: Annotated[Path, typer.Option(help="Rasa config to train with.")] = CONFIG,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="Another Rasa config, trained and scored on the same outside data: adds its "
            "scores and whether the lead holds (exact McNemar p, 95 % paired bootstrap)."
        ),
    ] = None,
    dev: Annotated[
        bool,
        typer.Option(
            "--dev",
            help="Score on nlu_data/dev (for choosing pipelines and thresholds) instead of "
            "nlu_data/test (reported once).",
        ),
    ] = False,
) -> None:
    """Score the project's model per language, or a fresh model on outside data."""
    if (train is None) != (test is None):
        typer.echo("error: give both --train and --test, or neither", err=True)
        raise typer.Exit(code=2)
    for given, flag in ((oos_label, "--oos-label"), (baseline, "--baseline")):
        if given is not None and train is None:
            typer.echo(f"error: {flag} applies to outside data (--train and --test)", err=True)
            raise typer.Exit(code=2)
    evaluator = _evaluator(config)
    try:
        if train is not None and test is not None:
            result = evaluator.outside_nlu(train, test, oos_label, baseline)
        else:
            result = evaluator.project_nlu(DEV_DATA if dev else TEST_DATA)
    except DialogueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    _emit(result)


@eval_app.command("stories")
def eval_stories(
    stories: Annotated[Path, typer.Option(help="Rasa test stories file.")] = TEST_STORIES,
) -> None:
    """Run the test stories against the project's model; exit 1 when any fails."""
    evaluator = _evaluator(CONFIG)
    try:
        result = evaluator.stories(stories)
    except DialogueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    _emit(result)
    if result["failed"]:
        raise typer.Exit(code=1)


@eval_app.command("conversations")
def eval_conversations(
    file: Annotated[
        Path, typer.Argument(help="Conversations YAML (nlu_data/conversations/*.yml).")
    ],
    hub_url: Annotated[
        str | None, typer.Option(help="A running hub; default the settings' host and port.")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="The hub's BOT_API_KEY; default the settings'.")
    ] = None,
) -> None:
    """Multi-turn conversations through a running hub and Rasa: task success, trapped turns,
    wrong-language replies, turns to success (per conversation and overall)."""
    settings = cli_settings()
    key = api_key or (settings.api_key.get_secret_value() if settings.api_key else None)
    try:
        result = evaluate_conversations(file, hub_url or settings.hub_url, key)
    except DialogueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    _emit(result)
