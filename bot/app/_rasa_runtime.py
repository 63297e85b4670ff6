"""Rasa's endpoints and credentials files, written from the settings at start-up."""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy.engine import make_url

from bot.app._settings import Settings

TRACKER_URL_ENV = "BOT_RASA_TRACKER_URL"


def write_rasa_runtime_files(settings: Settings) -> tuple[Path, Path]:
    """Write endpoints.yml and credentials.yml for ``rasa run``; return their paths.

    Secrets stay out of the files: the tracker store URL is read by Rasa from the
    ``BOT_RASA_TRACKER_URL`` environment variable (see ``rasa_runtime_environment``).
    """
    run_dir = settings.var_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    tracker_url = make_url(settings.rasa_tracker_url)
    if tracker_url.get_backend_name() == "sqlite" and tracker_url.database:
        Path(tracker_url.database).parent.mkdir(parents=True, exist_ok=True)
    endpoints = {
        "action_endpoint": {"url": f"{settings.actions_url}/webhook"},
        "tracker_store": {
            "type": "SQL",
            "dialect": tracker_url.get_backend_name(),
            # Rasa passes `url` on as the database host and uses it whole when it holds "://";
            # it fills `${...}` from the environment.
            "url": "${" + TRACKER_URL_ENV + "}",
        },
    }
    credentials: dict[str, None] = {"rest": None}
    endpoints_file = run_dir / "endpoints.yml"
    credentials_file = run_dir / "credentials.yml"
    endpoints_file.write_text(yaml.safe_dump(endpoints, sort_keys=False), encoding="utf-8")
    credentials_file.write_text(yaml.safe_dump(credentials), encoding="utf-8")
    return endpoints_file, credentials_file


def rasa_runtime_environment(settings: Settings) -> dict[str, str]:
    """Variables the Rasa server reads its endpoints' secrets from."""
    return {TRACKER_URL_ENV: settings.rasa_tracker_url}
