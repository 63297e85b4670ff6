"""Rasa's own commands on this project, with its folders filled in: ``validate`` and ``shell``."""

from __future__ import annotations

import logging
import subprocess

import typer

from bot.app._cli_settings import cli_settings
from bot.dialogue import (
    CONFIG,
    DOMAIN,
    PROJECT_ROOT,
    TRAINING_DATA,
    TrainingFailed,
    rasa_environment,
    train,
)

logger = logging.getLogger(__name__)


def _rasa(*arguments: str) -> int:
    settings = cli_settings()
    command = [str(settings.rasa_python), "-m", "rasa", *arguments]
    environment = rasa_environment(settings.rasa_toolchain)
    return subprocess.run(command, cwd=PROJECT_ROOT, env=environment, check=False).returncode


def validate() -> None:
    """Rasa's check of the domain, the NLU data, the rules and stories (``rasa data validate``)."""
    code = _rasa(
        "data",
        "validate",
        "--fail-on-warnings",
        "--domain",
        str(DOMAIN),
        "--data",
        str(TRAINING_DATA),
        "--config",
        str(CONFIG),
    )
    if code:
        raise typer.Exit(code=code)


def shell() -> None:
    """``rasa shell`` on the current model, against the action server of ``endpoints.yml``."""
    settings = cli_settings()
    try:
        model = train(settings.rasa_toolchain)
    except TrainingFailed as exc:
        logger.error("%s", exc)
        raise typer.Exit(code=1) from exc
    code = _rasa("shell", "--model", str(model), "--endpoints", str(PROJECT_ROOT / "endpoints.yml"))
    if code:
        raise typer.Exit(code=code)
