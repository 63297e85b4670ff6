"""The command line: ``python -m bot <command>``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import timedelta

import typer

from bot.app._cli_channels import channels_app
from bot.app._cli_eval import eval_app
from bot.app._cli_insights import insights_app
from bot.app._cli_insights_report import insights_report_app
from bot.app._cli_kb import kb_app
from bot.app._cli_marketing import marketing_app
from bot.app._cli_media import media_app
from bot.app._cli_nlu import nlu_app, scored_training
from bot.app._cli_privacy import privacy_app
from bot.app._cli_rasa import shell, validate
from bot.app._cli_recommend import recommend_app
from bot.app._cli_settings import cli_settings, start_run
from bot.app._container import ensure_recommendation_model
from bot.app._engines import private_chroma, private_engines, private_rabbitmq
from bot.app._exposure import InsecureSettings, check_exposure
from bot.app._knowledge import ingest_sources
from bot.app._settings import Settings
from bot.app._supervisor import Supervisor, platform_processes
from bot.app._topology import (
    InvalidReplicas,
    Replicas,
    parse_replicas,
    scale_topology,
    with_changes,
)
from bot.dialogue import TrainingFailed, train
from bot.handoff import AgentDirectory, HandoffError
from bot.recommend import RecommendError
from bot.storage import Database, upgrade
from knowledge import KnowledgeError

logger = logging.getLogger(__name__)

app = typer.Typer(help="Customer-service assistant platform.", no_args_is_help=True)
db_app = typer.Typer(help="The hub database.", no_args_is_help=True)
app.callback()(start_run)
app.add_typer(db_app, name="db")
agents_app = typer.Typer(help="Console agents.", no_args_is_help=True)
app.add_typer(agents_app, name="agents")
app.add_typer(kb_app, name="kb")
app.add_typer(eval_app, name="eval")
app.add_typer(media_app, name="media")
app.add_typer(recommend_app, name="recommend")
app.add_typer(privacy_app, name="privacy")
app.add_typer(marketing_app, name="marketing")
app.add_typer(insights_app, name="insights")
app.add_typer(channels_app, name="channels")
app.add_typer(nlu_app, name="nlu")
# The report commands join the same `insights` group.
insights_app.registered_commands.extend(insights_report_app.registered_commands)


@app.command()
def run(
    replicas: str | None = typer.Option(
        None,
        "--replicas",
        help="Scale out: e.g. hub=2,rasa=2,actions=2, behind nginx on the usual ports; "
        "PostgreSQL, Redis, RabbitMQ and Chroma from BOT_DATABASE_URL/BOT_REDIS_URL/"
        "BOT_RABBITMQ_URL/BOT_CHROMA_URL or private under var/scale.",
    ),
) -> None:
    """Train the Rasa model if its inputs changed (and a first recommendation model on a new
    install), then start Rasa, actions and hub."""
    settings = cli_settings()
    if replicas is not None:
        try:
            counts = parse_replicas(replicas)
        except InvalidReplicas as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from exc
        with contextlib.ExitStack() as engines:
            if not (settings.database_url and settings.redis_url):
                logger.info("Starting private PostgreSQL and Redis under var/scale/engines")
                database, redis = engines.enter_context(
                    private_engines(settings.var_dir / "scale" / "engines")
                )
                settings = with_changes(
                    settings,
                    database_url=settings.database_url or database,
                    redis_url=settings.redis_url or redis,
                )
            if not settings.rabbitmq_url:
                logger.info("Starting a private RabbitMQ under var/scale/engines/rabbitmq")
                broker = engines.enter_context(
                    private_rabbitmq(settings.var_dir / "scale" / "engines" / "rabbitmq")
                )
                settings = with_changes(settings, rabbitmq_url=broker)
            if not settings.chroma_url:
                # One knowledge base for every replica, ingested once by _run_platform.
                logger.info("Starting a private Chroma server under var/scale/engines/chroma")
                chroma = engines.enter_context(
                    private_chroma(settings.var_dir / "scale" / "engines" / "chroma")
                )
                settings = with_changes(settings, chroma_url=chroma)
            _run_platform(with_changes(settings, profile="scale"), counts)
        return
    _run_platform(settings, None)


def _run_platform(settings: Settings, replicas: Replicas | None) -> None:
    try:
        check_exposure(settings)
    except InsecureSettings as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    try:
        model = train(settings.rasa_toolchain)
    except TrainingFailed as exc:
        logger.error("%s", exc)
        raise typer.Exit(code=1) from exc
    try:
        ingest_sources(settings)  # unchanged files cost nothing, so this is quick after the first
    except KnowledgeError as exc:
        logger.error("Knowledge base ingestion failed: %s", exc)
        raise typer.Exit(code=1) from exc
    try:
        ensure_recommendation_model(settings)
    except RecommendError as exc:
        logger.error("The first recommendation model could not be trained: %s", exc)
        raise typer.Exit(code=1) from exc
    if replicas is None:
        processes = platform_processes(settings, model)
    else:
        # Once, before the replicas start: concurrent migrations would race on the schema.
        upgrade(settings.hub_database_url)
        processes = scale_topology(settings, model, replicas).processes
    supervisor = Supervisor(
        processes,
        startup_timeout_s=settings.startup_timeout_s,
        backoff_max_s=settings.restart_backoff_max_s,
        pid_dir=settings.var_dir / "run",
        ready_message=f"Open {settings.hub_url}/ in a browser; Ctrl-C stops everything.",
    )
    asyncio.run(supervisor.run())


@app.command("actions")
def actions_command() -> None:
    """Serve the custom actions (the supervisor starts this; Rasa calls it)."""
    # Imported here: the actions and what they use take seconds to import, and no other
    # command needs them.
    from bot.app._actions import run_action_server

    run_action_server(cli_settings())


app.command("validate")(validate)
app.command("shell")(shell)


@app.command("train")
def train_command(
    force: bool = typer.Option(False, "--force", help="Train even if the model is up to date."),
    scores: bool = typer.Option(
        True,
        "--scores/--no-scores",
        help="When the corrections changed the model, score the old and the new model on the "
        "test split (about a minute) and print both.",
    ),
) -> None:
    """Train the Rasa model when config.yml, nlu_data/, the domain or the accepted console
    corrections changed: prints the diff of the corrections file, the before/after scores, and
    the model's path last."""
    settings = cli_settings()
    try:
        done = scored_training(settings, force=force, scores=scores)
    except TrainingFailed as exc:
        logger.error("%s", exc)
        raise typer.Exit(code=1) from exc
    logger.info(
        "Accepted console corrections: %d, %d of them new training examples",
        done.corrections.accepted,
        done.corrections.written,
    )
    if done.diff:
        typer.echo(done.diff, nl=False)
    if done.report is not None:
        shown = {k: v for k, v in done.report.items() if k != "diff"}
        typer.echo(json.dumps(shown, ensure_ascii=False, indent=2))
    typer.echo(str(done.model))


@agents_app.command("add")
def agents_add(
    username: str,
    display_name: str = typer.Option("", help="Name shown to customers; the username if empty."),
    role: str = typer.Option(
        "agent", help="agent, supervisor, or admin (a supervisor who may also use the admin API)"
    ),
    skills: str = typer.Option(
        "general", help="Comma-separated: orders,refunds,technical,sales,general"
    ),
    languages: str = typer.Option("zh,en", help="Comma-separated: zh,en"),
    max_chats: int = typer.Option(3, help="Most conversations at once."),
    password: str = typer.Option(
        ...,
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="BOT_NEW_AGENT_PASSWORD",
        help="At least 8 characters (prompted when not given; or set BOT_NEW_AGENT_PASSWORD).",
    ),
) -> None:
    """Add a console agent."""
    settings = cli_settings()

    async def add() -> None:
        database = Database(settings.hub_database_url)
        await database.migrate()
        try:
            directory = AgentDirectory(database, timedelta(hours=settings.agent_session_hours))
            profile = await directory.create(
                username,
                password,
                display_name=display_name or None,
                role=role,
                skills=_split(skills),
                languages=_split(languages),
                max_chats=max_chats,
            )
        finally:
            database.dispose()
        typer.echo(f"added {profile.role} {profile.username} (id {profile.id})")

    try:
        asyncio.run(add())
    except HandoffError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc


def _split(values: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in values.split(",") if v.strip())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the hub database's migrations."""
    settings = cli_settings()
    upgrade(settings.hub_database_url)
