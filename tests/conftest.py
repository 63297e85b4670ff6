"""Shared fixtures: a real platform (Rasa, action server, hub) on free ports in a temp folder."""

from __future__ import annotations

import secrets
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

import actions
from actions import ActionServices
from bot.app import PROJECT_ROOT, Settings, SharedKnowledge, order_service, ticket_service
from bot.privacy import AuditLog
from bot.storage import Database, upgrade
from tests.app_standin import AppStandIn, app_settings_env, running
from tests.launch import PlatformProcess
from tests.servers import postgres_server

# The shared platform's Rasa token (tests call Rasa's API with it); as strong as one the platform
# makes itself when none is set.
PLATFORM_RASA_TOKEN = secrets.token_hex(24)


@pytest.fixture
def stand_in() -> Iterator[AppStandIn]:
    """A local server standing in for the messaging apps' APIs (and Rasa), one per test."""
    with running(AppStandIn()) as server:
        yield server


@pytest.fixture(scope="session")
def app_stand_in() -> Iterator[AppStandIn]:
    """One local server standing in for the six messaging apps' APIs, for the shared platform."""
    with running(AppStandIn()) as server:
        yield server


@pytest.fixture(scope="session")
def platform(
    tmp_path_factory: pytest.TempPathFactory, app_stand_in: AppStandIn
) -> Iterator[PlatformProcess]:
    """The whole platform, started once per test session through `python -m bot run`."""
    # Agents always on duty, so handoff tests do not depend on the time of day they run at; a
    # request for a human queues even before an agent logs in (tests/test_hub_unattended.py
    # covers the ticket opened instead when nobody is online). Every messaging app is on, its
    # API stood in for by ``app_stand_in`` (tests/test_channels_live.py).
    running = PlatformProcess(
        tmp_path_factory.mktemp("platform"),
        extra_env={
            "BOT_BUSINESS_HOURS": "00:00-24:00",
            "BOT_TICKET_WHEN_NO_AGENT": "false",
            # Known to the tests that use Rasa's HTTP API themselves (test_nlu_retrain_live.py).
            "BOT_RASA_TOKEN": PLATFORM_RASA_TOKEN,
            **app_settings_env(app_stand_in.url),
        },
    )
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A private PostgreSQL server for the whole test session."""
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty hub database on each backend the platform supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/hub.db"
    server: str = request.getfixturevalue("postgres_url")
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return server.rsplit("/", 1)[0] + f"/{name}"


def query_hub_db(var_dir: Path, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    """Rows from the hub's SQLite database under ``var_dir``."""
    with sqlite3.connect(var_dir / "hub.db") as connection:
        connection.row_factory = sqlite3.Row
        return connection.execute(sql, params).fetchall()


def response_text(name: str, language: str) -> str:
    """The text of a domain response in one language (the unconditioned variant is English)."""
    for path in (PROJECT_ROOT / "bot" / "domain").glob("*.yml"):
        responses = yaml.safe_load(path.read_text(encoding="utf-8")).get("responses", {})
        for variant in responses.get(name, []):
            conditions = variant.get("condition") or []
            wanted = (
                [{"type": "slot", "name": "language", "value": "zh"}] if language == "zh" else []
            )
            if conditions == wanted:
                return str(variant["text"])
    raise KeyError(f"no {language} variant of response {name}")


@pytest.fixture
def action_services(tmp_path: Path) -> Iterator[ActionServices]:
    """The services the wiring gives the action server, on a temporary folder (an empty
    knowledge base, the demo order store, a migrated hub database for tickets)."""
    settings = Settings(_env_file=None, var_dir=tmp_path / "action-var")  # type: ignore[call-arg]
    knowledge = SharedKnowledge(settings)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.hub_database_url)
    database = Database(settings.hub_database_url)
    services = ActionServices(
        orders=order_service(settings),
        knowledge=knowledge.get,
        tickets=ticket_service(settings, database),
        audit=AuditLog(database),
    )
    actions.configure(services)
    yield services
    actions.configure(None)
    knowledge.close()
    database.dispose()


@pytest.fixture
def rate_window() -> None:
    """Start a test that counts against per-minute limits in a fresh minute.

    The limiter's sliding-window counter (``limits``) weighs the previous minute's count by the
    share of it still inside the window, so a hit a moment after a minute turns sees a count a
    little under the limit and is let through: the documented approximation of that strategy,
    one extra message at most, and only at the turn. A test asserting the exact count waits
    here for the turn when it is near one (a wait on the clock itself, not on another process).
    """
    left = 60 - time.time() % 60
    if left < RATE_WINDOW_MARGIN_S:
        time.sleep(left + 0.05)


# Longer than any test that counts against a per-minute limit takes.
RATE_WINDOW_MARGIN_S = 10.0
