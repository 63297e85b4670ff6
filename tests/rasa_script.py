"""Run a Python script in Rasa's own environment (Python 3.10), as the supervisor runs Rasa:
the endpoints' secrets in the environment, telemetry off."""

from __future__ import annotations

import subprocess

from bot.app import PROJECT_ROOT, Settings
from bot.app._rasa_runtime import rasa_runtime_environment


def run_in_rasa(
    settings: Settings, script: str, *args: str, timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    """``script`` run with ``args`` by Rasa's Python from the project folder; its output kept."""
    return subprocess.run(
        [str(settings.rasa_python), "-c", script, *args],
        env={
            "PATH": "/usr/bin:/bin",
            "RASA_TELEMETRY_ENABLED": "false",
            **rasa_runtime_environment(settings),
        },
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
