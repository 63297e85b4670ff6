"""Private PostgreSQL, Redis and RabbitMQ instances in a folder of their own, on given ports:
what ``python -m bot run --replicas …`` starts under ``var/scale/`` when no URLs are given, and
what the tests start in temporary folders. Debian's packages provide the binaries.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENGINE_START_TIMEOUT_S = 30.0
RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
RABBITMQ_START_TIMEOUT_S = 90


class EngineStartFailed(Exception):
    """A database or cache engine is not installed or did not start."""


def postgres_bin(name: str) -> str:
    """The newest installed PostgreSQL's ``name`` program (Debian keeps them off the PATH)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise EngineStartFailed(f"PostgreSQL's {name} is not installed; run scripts/setup.sh")
    return path


def as_postgres_user(command: list[str]) -> list[str]:
    """``command`` as the ``postgres`` user when run as root: initdb and postgres refuse root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def init_postgres(folder: Path) -> Path:
    """A PostgreSQL data folder (created once, trust auth on loopback only); returns it."""
    data, sockets = folder / "pgdata", folder / "pgsock"
    if (data / "PG_VERSION").exists():
        return data
    for path in (folder, data, sockets):
        path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (folder, data, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    command = [postgres_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
    command += ["--encoding=UTF8", "--locale=C.UTF-8"]
    done = subprocess.run(as_postgres_user(command), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise EngineStartFailed(f"initdb failed in {data}: {done.stderr.strip()[-500:]}")
    return data


def start_postgres(data: Path, port: int) -> str:
    """Start the server of ``data`` on 127.0.0.1:``port`` (``pg_ctl``, waits until it accepts
    connections); returns the URL of its ``postgres`` database."""
    sockets, log = data.parent / "pgsock", data.parent / "postgres.log"
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c max_connections=200"
    command = [postgres_bin("pg_ctl"), "-D", str(data), "-w", "-l", str(log), "-o", options]
    done = subprocess.run(
        as_postgres_user([*command, "start"]), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise EngineStartFailed(f"PostgreSQL did not start; see {log}: {done.stderr[-300:]}")
    return postgres_url(port)


def stop_postgres(data: Path) -> None:
    """Stop the server of ``data`` (fast shutdown: open transactions roll back)."""
    command = [postgres_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]
    subprocess.run(as_postgres_user(command), capture_output=True, check=False)


def redis_command(folder: Path, port: int) -> list[str]:
    """A Redis server in the foreground on 127.0.0.1:``port``, its files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if shutil.which("redis-server") is None:
        raise EngineStartFailed("redis-server is not installed; run scripts/setup.sh")
    return [
        *("redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)),
        *("--save", "", "--appendonly", "yes"),  # an append-only file: a restart loses nothing
    ]


def postgres_url(port: int) -> str:
    """The SQLAlchemy URL of the private server's ``postgres`` database."""
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"


def redis_url(port: int) -> str:
    """The URL of the private Redis server."""
    return f"redis://127.0.0.1:{port}/0"


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None) -> None:
    """Until something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + ENGINE_START_TIMEOUT_S
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError as exc:
            if process is not None and process.poll() is not None:
                raise EngineStartFailed(f"the server for port {port} exited") from exc
            if time.monotonic() > deadline:
                raise EngineStartFailed(f"nothing listens on port {port}") from exc
            time.sleep(0.05)  # poll interval: the servers have no readiness signal to wait on


@contextmanager
def private_engines(folder: Path) -> Iterator[tuple[str, str]]:
    """PostgreSQL and Redis of their own under ``folder`` on free ports until the block ends;
    yields their URLs. Data stays in ``folder`` between runs."""
    data = init_postgres(folder / "postgres")
    database = start_postgres(data, free_port())
    try:
        port = free_port()
        redis = subprocess.Popen(
            redis_command(folder / "redis", port),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port, redis)
            yield database, redis_url(port)
        finally:
            redis.terminate()
            redis.wait(timeout=10)
    finally:
        stop_postgres(data)


@contextmanager
def private_rabbitmq(folder: Path) -> Iterator[str]:
    """A RabbitMQ node of its own under ``folder`` (its own node name, ports, data and Erlang
    cookie; no plugins) until the block ends; yields its AMQP URL (``guest`` may log in from
    loopback only, RabbitMQ's default)."""
    if not (RABBITMQ_BIN / "rabbitmq-server").exists():
        raise EngineStartFailed("RabbitMQ is not installed; run scripts/setup.sh")
    folder.mkdir(parents=True, exist_ok=True)
    port, dist_port = free_port(), free_port()
    node = f"bot{port}@localhost"
    (folder / "enabled_plugins").write_text("[].\n")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder),  # the node's Erlang cookie is written here
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
        "RABBITMQ_LOG_BASE": str(folder / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
        "RABBITMQ_CONFIG_FILE": str(folder / "none"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(folder / "none.config"),
        "RABBITMQ_CONF_ENV_FILE": str(folder / "none.env"),
    }
    server = subprocess.Popen(
        [str(RABBITMQ_BIN / "rabbitmq-server")],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    ctl = [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", node, "-q"]
    try:
        # RabbitMQ's own readiness wait: until the node with this process id has booted.
        waited = subprocess.run(
            [*ctl, "wait", "--pid", str(server.pid), "--timeout", str(RABBITMQ_START_TIMEOUT_S)],
            env=env,
            check=False,
            capture_output=True,
            timeout=RABBITMQ_START_TIMEOUT_S + 30,
        )
        if waited.returncode != 0:
            raise EngineStartFailed(f"RabbitMQ did not start: {waited.stderr.decode()[-2000:]}")
        yield f"amqp://guest:guest@127.0.0.1:{port}/"
    finally:
        subprocess.run([*ctl, "shutdown"], env=env, check=False, capture_output=True, timeout=60)
        if server.poll() is None:
            server.terminate()
        server.wait(timeout=30)


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
