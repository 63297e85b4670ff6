"""The supervisor against small real child processes (tests/child_process.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from pathlib import Path

import pytest

from bot.app import ProcessSpec, Supervisor
from bot.app._supervisor import relayed_level
from tests.launch import free_port
from tests.waiting import wait_until_async

CHILD = Path(__file__).with_name("child_process.py")


def spec(name: str, *flags: str) -> ProcessSpec:
    port = free_port()
    return ProcessSpec(
        name=name,
        command=[sys.executable, str(CHILD), str(port), *flags],
        health_url=f"http://127.0.0.1:{port}/health",
        env=dict(os.environ),
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent has not reaped it yet.
    with contextlib.suppress(FileNotFoundError):
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    return False


async def logged(
    caplog: pytest.LogCaptureFixture, text: str, times: int = 1, within: float = 20.0
) -> None:
    """Until ``text`` is in the log ``times`` times (the supervisor runs in this event loop)."""
    await wait_until_async(
        lambda: caplog.text.count(text) >= times,
        f"{text!r} to be logged {times} time(s)",
        timeout_s=within,
        interval_s=0.1,
    )


async def test_starts_children_reports_ready_and_stops_them(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.INFO)
    supervisor = Supervisor(
        [spec("one"), spec("two")],
        startup_timeout_s=20,
        backoff_max_s=1,
        pid_dir=tmp_path,
        ready_message="ready!",
    )
    running = asyncio.create_task(supervisor.run())
    await logged(caplog, "All processes healthy")
    pids = supervisor.pids()
    assert set(pids) == {"one", "two"}
    assert (tmp_path / "one.pid").read_text().strip() == str(pids["one"])
    assert "ready!" in caplog.text
    assert f"child {pids['one']} listening" in caplog.text  # output is relayed
    started = time.monotonic()
    supervisor.request_stop()
    await running
    assert time.monotonic() - started < 10
    assert not any(alive(pid) for pid in pids.values())


async def test_crashed_child_is_restarted_with_growing_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    supervisor = Supervisor(
        [spec("flaky", "--exit-after", "0.2", "--exit-code", "7")],
        startup_timeout_s=20,
        backoff_max_s=2,
    )
    running = asyncio.create_task(supervisor.run())
    await logged(caplog, "flaky exited with code 7", times=3, within=30)
    supervisor.request_stop()
    await running
    delays = [r.args[3] for r in caplog.records if "exited with code" in r.getMessage()]  # type: ignore[index]
    assert delays[:3] == [1.0, 2.0, 2.0]  # 1, 2, then capped at backoff_max_s


async def test_child_ignoring_sigterm_is_killed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    supervisor = Supervisor(
        [spec("stubborn", "--ignore-term")],
        startup_timeout_s=20,
        backoff_max_s=1,
        stop_grace_s=1.0,
    )
    running = asyncio.create_task(supervisor.run())
    await logged(caplog, "stubborn is healthy")
    pid = supervisor.pids()["stubborn"]
    supervisor.request_stop()
    await running
    assert "stubborn did not stop within 1 s; killing it" in caplog.text
    assert not alive(pid)


async def test_grandchildren_are_stopped_with_their_parent(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.INFO)
    pidfile = tmp_path / "grandchild.pid"
    supervisor = Supervisor(
        [spec("parent", "--grandchild-pidfile", str(pidfile))],
        startup_timeout_s=20,
        backoff_max_s=1,
    )
    running = asyncio.create_task(supervisor.run())
    await logged(caplog, "parent is healthy")
    grandchild = int(pidfile.read_text())
    assert alive(grandchild)
    supervisor.request_stop()
    await running
    await wait_until_async(
        lambda: not alive(grandchild),
        f"grandchild {grandchild} to die",
        timeout_s=5,
        interval_s=0.1,
    )


async def test_unhealthy_child_is_restarted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    never = spec("deaf")
    never.health_url = f"http://127.0.0.1:{free_port()}/health"  # nothing answers there
    supervisor = Supervisor([never], startup_timeout_s=1.5, backoff_max_s=1)
    running = asyncio.create_task(supervisor.run())
    await logged(caplog, "deaf did not become healthy within 2 s")
    await logged(caplog, "deaf exited with code -9")
    supervisor.request_stop()
    await running


async def test_a_childs_errors_and_tracebacks_show_at_warning_level(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """With the supervisor's log at WARNING (``BOT_LOG_LEVEL=WARNING``), a child's error record
    and the traceback under it are relayed at ERROR; its INFO records stay below the level."""
    caplog.set_level(logging.WARNING)
    supervisor = Supervisor(
        [spec("noisy", "--log-error")], startup_timeout_s=20, backoff_max_s=1, pid_dir=tmp_path
    )
    running = asyncio.create_task(supervisor.run())
    await logged(caplog, "ValueError: the disk is on fire")
    supervisor.request_stop()
    await running
    relayed = [r for r in caplog.records if r.name == "bot.app._supervisor.noisy"]
    levels = {r.getMessage(): r.levelno for r in relayed}
    [error] = [text for text in levels if text.endswith("ERROR   child: request failed")]
    assert levels[error] == logging.ERROR
    assert levels["Traceback (most recent call last):"] == logging.ERROR
    assert levels["ValueError: the disk is on fire"] == logging.ERROR
    assert not [text for text in levels if "routine news" in text or "listening" in text]


@pytest.mark.parametrize(
    ("line", "previous", "level"),
    [
        ("2026-12-03 06:33:40,123 WARNING bot.hub: slow", logging.INFO, logging.WARNING),
        ("2026-12-03 06:33:40 ERROR    rasa.core.processor  - boom", logging.INFO, logging.ERROR),
        (
            "[2026-12-03 06:33:40 +0000] [1234] [ERROR] Exception occurred",
            logging.INFO,
            logging.ERROR,
        ),
        ("2026-12-03 06:33:40 INFO     root  - Rasa server is up", logging.ERROR, logging.INFO),
        ('  File "x.py", line 1, in <module>', logging.ERROR, logging.ERROR),
        ("Starting Rasa server", logging.INFO, logging.INFO),
        ("2026-12-03 an ERROR in prose", logging.INFO, logging.INFO),
    ],
)
def test_a_relayed_line_keeps_its_records_level(line: str, previous: int, level: int) -> None:
    assert relayed_level(line, previous) == level
