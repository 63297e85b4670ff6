"""Logging set-up: one format, and personal data redacted before any handler writes a record.

The hub avoids logging message text at all; the redaction is the safety net for what slips
through (an exception message quoting a customer, a library's debug line).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from bot.privacy import RedactingFilter

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is when a record comes, not as it was at set-up: a
    command run in-process (tests, notebooks) may swap it between runs."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        return  # always the current sys.stderr


def configure_logging(level: str = "INFO") -> None:
    """Send every log record through the redacting filter to stderr; idempotent."""
    root = logging.getLogger()
    root.setLevel(level)
    if not any(getattr(h, "_bot_handler", False) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(RedactingFilter())
        handler._bot_handler = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    # Uvicorn's loggers write through their own handlers; route them through ours instead.
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
