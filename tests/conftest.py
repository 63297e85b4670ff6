"""Shared fixtures: a real platform (Rasa, action server, hub) on free ports in a temp folder."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.launch import PlatformProcess
from bot.settings import PROJECT_ROOT


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    """The whole platform, started once per test session through `python -m bot run`."""
    # Agents always on duty, so handoff tests do not depend on the time of day they run at.
    running = PlatformProcess(
        tmp_path_factory.mktemp("platform"), extra_env={"BOT_BUSINESS_HOURS": "00:00-24:00"}
    )
    running.start()
    yield running
    running.stop()


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
