"""Logging as the wiring sets it up: every record redacted before a handler writes it."""

from __future__ import annotations

import logging

import pytest

from bot.app._logs import configure_logging


def test_every_log_line_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    logger = logging.getLogger("bot.test_logs")
    logger.info("customer %s wrote from %s", "13812345678", "zhang.san@example.com.cn")
    try:
        raise ValueError("bad ID 11010519491231002X")
    except ValueError:
        logger.exception("lookup failed")
    # uvicorn's own loggers go through the same handler
    logging.getLogger("uvicorn.error").warning("card 6222021234567890128 declined")
    written = capsys.readouterr().err
    for secret in (
        "13812345678",
        "zhang.san@example.com.cn",
        "11010519491231002X",
        "6222021234567890128",
    ):
        assert secret not in written
    assert "customer [phone] wrote from [email]" in written
    assert "lookup failed" in written
    assert "declined" in written


def test_configuring_twice_adds_no_second_handler() -> None:
    configure_logging("INFO")
    configure_logging("DEBUG")
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_bot_handler", False)]
    assert len(ours) == 1
