"""Run the whole platform (``python -m bot run``) as a child process on free ports.

Used by the integration tests and the benchmarks, which need the real processes in a private
folder without touching a running platform.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import TracebackType

import httpx

from bot.app import PROJECT_ROOT
from tests.waiting import wait_until

logger = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """Ask a server process to stop; kill it if it has not after ``timeout_s``."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class PlatformProcess:
    """``python -m bot run`` with its own ports and var folder; a context manager."""

    def __init__(
        self,
        var_dir: Path,
        extra_env: dict[str, str] | None = None,
        project_root: Path = PROJECT_ROOT,
    ) -> None:
        self.var_dir = var_dir
        # Another checkout of the project (bench/latency.py --compare runs an older one).
        self.project_root = project_root
        self.port, self.rasa_port, self.actions_port = free_port(), free_port(), free_port()
        self.env = {
            **os.environ,
            "BOT_VAR_DIR": str(var_dir),
            "BOT_PORT": str(self.port),
            "BOT_RASA_PORT": str(self.rasa_port),
            "BOT_ACTIONS_PORT": str(self.actions_port),
            "BOT_RESTART_BACKOFF_MAX_S": "2",
            # Every customer of the tests and benchmarks comes from this one address: the
            # per-address message limit would measure the limiter, not the platform (the limits
            # themselves are tested in test_ratelimits.py and test_hostile.py).
            "BOT_RATE_LIMIT_MESSAGES_PER_IP_PER_MINUTE": "1000000",
            "BOT_RATE_LIMIT_UPLOADS_PER_IP_PER_DAY": "1000000",
            **(extra_env or {}),
        }
        self.log_path = var_dir / "platform.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def actions_url(self) -> str:
        return f"http://127.0.0.1:{self.actions_port}"

    def start(self, timeout_s: float = 240.0, training_timeout_s: float = 1800.0) -> None:
        """Train if the model is stale, start the supervisor and wait until the hub reports
        every process healthy. ``timeout_s`` is for starting only: training a changed model takes
        minutes on 2 busy cores, and is bounded by ``training_timeout_s`` on its own."""
        self.var_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            trained = subprocess.run(
                [sys.executable, "-m", "bot", "train"],
                cwd=self.project_root,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=training_timeout_s,
                check=False,
            )
        if trained.returncode != 0:
            raise RuntimeError(f"training the Rasa model failed:\n{self.log_tail()}")
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=self.project_root,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        try:
            self.wait_healthy(timeout_s)
        except BaseException:
            self.stop()  # never leave a half-started platform behind
            raise

    def wait_healthy(self, timeout_s: float = 240.0) -> None:
        """Block until ``/healthz`` says ok; raise with the log's tail if it never does."""

        def healthy() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the platform exited early:\n{self.log_tail()}")
            return bool(httpx.get(f"{self.hub_url}/healthz", timeout=2).json()["status"] == "ok")

        wait_until(
            healthy,
            f"the platform at {self.hub_url} to report every process healthy",
            timeout_s=timeout_s,
            interval_s=0.5,
            ignoring=(httpx.HTTPError, ValueError, KeyError),  # not listening yet
            detail=self.log_tail,
        )

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM the supervisor and wait for it; return its exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def log_tail(self, lines: int = 60) -> str:
        """The last lines the platform logged."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> PlatformProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
