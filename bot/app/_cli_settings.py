"""The settings of one command-line run: read from the environment and ``.env`` once, on first use
by whichever command runs (the root command starts each run afresh)."""

from __future__ import annotations

from contextvars import ContextVar

from bot.app._logs import configure_logging
from bot.app._settings import Settings

_loaded: ContextVar[Settings | None] = ContextVar("cli_settings", default=None)


def start_run() -> None:
    """Forget the settings of an earlier run in this process (tests run many)."""
    _loaded.set(None)


def cli_settings() -> Settings:
    """The settings of the running command."""
    settings = _loaded.get()
    if settings is None:
        settings = Settings()
        configure_logging(settings.log_level)
        _loaded.set(settings)
    return settings
