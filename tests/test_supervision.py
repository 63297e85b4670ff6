"""Crashes and shutdown of the real platform: Rasa or the action server killed, then SIGTERM."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import query_hub_db, response_text
from tests.launch import PlatformProcess
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def own_platform(tmp_path: Path) -> Iterator[PlatformProcess]:
    """A platform of this test's own: the test kills its processes."""
    running = PlatformProcess(tmp_path / "var")
    running.start()
    yield running
    if running.process is not None and running.process.poll() is None:
        running.stop()


def child_pid(platform: PlatformProcess, name: str) -> int:
    return int((platform.var_dir / "run" / f"{name}.pid").read_text())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def post(platform: PlatformProcess, sender: str, text: str) -> httpx.Response:
    return httpx.post(
        f"{platform.hub_url}/api/messages", json={"sender": sender, "text": text}, timeout=30
    )


def health(platform: PlatformProcess) -> dict[str, str]:
    return httpx.get(f"{platform.hub_url}/healthz", timeout=5).json()  # type: ignore[no-any-return]


def test_crash_restart_and_shutdown(own_platform: PlatformProcess) -> None:
    platform = own_platform
    sender = f"crash-{uuid.uuid4().hex[:6]}"
    assert post(platform, sender, "你好").status_code == 200

    # Rasa dies: the hub answers 503, keeps the message, and keeps serving.
    old_rasa = child_pid(platform, "rasa")
    os.kill(old_rasa, signal.SIGKILL)
    wait_until(
        lambda: not alive(old_rasa), f"rasa ({old_rasa}) to die", timeout_s=10, interval_s=0.3
    )
    refused = post(platform, sender, "你是机器人吗")
    assert refused.status_code == 503
    assert "temporarily unavailable" in refused.json()["detail"]
    assert health(platform)["rasa"] == "down"
    (failed,) = query_hub_db(platform.var_dir, "SELECT text FROM messages WHERE status = 'failed'")
    assert failed["text"] == "你是机器人吗"

    # The supervisor restarts it, and the conversation goes on.
    wait_until(
        lambda: health(platform)["status"] == "ok",
        "the platform to be healthy with rasa restarted",
        timeout_s=180,
        interval_s=0.3,
    )
    assert child_pid(platform, "rasa") != old_rasa
    assert "rasa exited with code -9" in platform.log_tail(400)
    again = post(platform, sender, "你是机器人吗")
    assert again.status_code == 200
    assert again.json()["replies"][0]["text"] == response_text("utter_iamabot", "zh")

    # The action server dies: turns that need it get 503, the others still work.
    old_actions = child_pid(platform, "actions")
    os.killpg(old_actions, signal.SIGKILL)
    wait_until(
        lambda: health(platform)["actions"] == "down",
        "the hub to report the action server down",
        timeout_s=10,
        interval_s=0.3,
    )
    needs_action = post(platform, sender, "今天天气怎么样")
    assert needs_action.status_code == 503
    assert "the action server cannot be reached" in needs_action.json()["detail"]
    assert post(platform, sender, "谢谢").status_code == 200
    wait_until(
        lambda: health(platform)["status"] == "ok",
        "the platform to be healthy with the action server restarted",
        timeout_s=60,
        interval_s=0.3,
    )
    assert post(platform, sender, "今天天气怎么样").status_code == 200

    # SIGTERM stops everything within 10 s.
    children = [child_pid(platform, name) for name in ("rasa", "actions", "hub")]
    started = time.monotonic()
    assert platform.process is not None
    platform.process.send_signal(signal.SIGTERM)
    assert platform.process.wait(timeout=10) == 0
    assert time.monotonic() - started < 10
    wait_until(
        lambda: not any(alive(pid) for pid in children),
        f"every child ({children}) to be gone",
        timeout_s=2,
        interval_s=0.3,
    )
