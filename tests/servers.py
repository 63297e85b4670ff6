"""Private database servers for tests: started on a free port in a temporary folder, then stopped.

Debian's packages provide the binaries (scripts/setup.sh installs them); nothing here touches a
system-wide instance.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from bot.app._engines import chroma_url, private_rabbitmq, start_chroma, stop_chroma
from tests.launch import free_port
from tests.waiting import wait_until


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(f"PostgreSQL's {name} is not installed; run scripts/setup.sh")
    return path


def _as_postgres_user(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root; the Debian package made a `postgres` user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server of its own; yields a SQLAlchemy URL of its `postgres` database."""
    # A folder of its own under /tmp: pytest's are private to root, and the server runs as the
    # `postgres` user when the tests run as root.
    folder = Path(tempfile.mkdtemp(prefix="test-postgres-"))
    data, sockets = folder / "pgdata", folder / "pgsock"
    data.mkdir()
    sockets.mkdir()
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (folder, data, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    port = free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "check": True}
    subprocess.run(
        _as_postgres_user(
            [
                _postgres_bin("initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]
        ),
        **quiet,
    )  # type: ignore[call-overload]
    subprocess.run(
        _as_postgres_user(
            [
                _postgres_bin("pg_ctl"),
                "-D",
                str(data),
                "-w",
                "-l",
                str(folder / "postgres.log"),
                "-o",
                f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            ]
        ),
        **quiet,
    )  # type: ignore[call-overload]
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres_user(
                [
                    _postgres_bin("pg_ctl"),
                    "-D",
                    str(data),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ]
            ),
            **quiet,
        )  # type: ignore[call-overload]
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def redis_server() -> Iterator[str]:
    """A Redis server of its own (no persistence) on a free port; yields its URL."""
    folder = Path(tempfile.mkdtemp(prefix="test-redis-"))
    port = free_port()
    server = subprocess.Popen(
        [
            *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", str(folder)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_redis(port, server)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for_redis(port: int, server: subprocess.Popen[bytes]) -> None:
    def answers() -> bool:
        if server.poll() is not None:
            stderr = server.stderr.read().decode(errors="replace") if server.stderr else ""
            raise RuntimeError(f"redis-server exited with code {server.returncode}: {stderr}")
        return bool(redis.Redis(port=port, socket_timeout=1).ping())

    wait_until(
        answers,
        f"redis-server on port {port} to answer PING",
        timeout_s=10,
        ignoring=(redis.ConnectionError,),
    )


@contextmanager
def rabbitmq_server() -> Iterator[str]:
    """A RabbitMQ node of its own in a temporary folder; yields its AMQP URL."""
    folder = Path(tempfile.mkdtemp(prefix="test-rabbitmq-"))
    try:
        with private_rabbitmq(folder) as url:
            yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class ChromaServer:
    """A Chroma server (``chroma run``) of its own on a fixed free port in a temporary folder,
    which a test can stop and start again on the same port and data."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = chroma_url(self.port)
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it; returns once it answers its heartbeat."""
        self._process = start_chroma(self.folder, self.port)

    def stop(self) -> None:
        """Stop it (SIGTERM); nothing listens on its port afterwards."""
        if self._process is not None:
            stop_chroma(self._process)
            self._process = None


@contextmanager
def chroma_server() -> Iterator[ChromaServer]:
    """A running Chroma server of its own; stopped and its folder removed afterwards."""
    server = ChromaServer(Path(tempfile.mkdtemp(prefix="test-chroma-")))
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)
