"""The command line: ``python -m bot <command>``."""

from __future__ import annotations

import asyncio
import logging

import typer

from bot.dialogue import TrainingFailed, train
from bot.logs import configure_logging
from bot.settings import Settings
from bot.storage import upgrade
from bot.supervisor import Supervisor, platform_processes

logger = logging.getLogger(__name__)

app = typer.Typer(help="Customer-service assistant platform.", no_args_is_help=True)
db_app = typer.Typer(help="The hub database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _settings() -> Settings:
    settings = Settings()
    configure_logging(settings.log_level)
    return settings


@app.command()
def run() -> None:
    """Train the Rasa model if its inputs changed, then start Rasa, actions and hub."""
    settings = _settings()
    try:
        model = train(settings)
    except TrainingFailed as exc:
        logger.error("%s", exc)
        raise typer.Exit(code=1) from exc
    supervisor = Supervisor(
        platform_processes(settings, model),
        startup_timeout_s=settings.startup_timeout_s,
        backoff_max_s=settings.restart_backoff_max_s,
        pid_dir=settings.var_dir / "run",
        ready_message=f"Open {settings.hub_url}/ in a browser; Ctrl-C stops everything.",
    )
    asyncio.run(supervisor.run())


@app.command("train")
def train_command(
    force: bool = typer.Option(False, "--force", help="Train even if the model is up to date."),
) -> None:
    """Train the Rasa model when config.yml, nlu_data/ or the domain changed."""
    settings = _settings()
    try:
        model = train(settings, force=force)
    except TrainingFailed as exc:
        logger.error("%s", exc)
        raise typer.Exit(code=1) from exc
    typer.echo(str(model))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the hub database's migrations."""
    settings = _settings()
    upgrade(settings.hub_database_url)
