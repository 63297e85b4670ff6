"""Private PostgreSQL, Redis, RabbitMQ and Chroma instances in a folder of their own, on given
ports: what ``python -m bot run --replicas …`` starts under ``var/scale/`` when no URLs are given,
and what the tests start in temporary folders. Debian's packages provide the binaries, except
Chroma's server, which the ``chromadb`` package installs beside the hub's Python (``chroma run``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENGINE_START_TIMEOUT_S = 30.0
RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
RABBITMQ_START_TIMEOUT_S = 90
# Chroma's server answers this once it serves requests (the v2 API of chromadb 1.x).
CHROMA_HEARTBEAT = "/api/v2/heartbeat"


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


def chroma_command(folder: Path, port: int) -> list[str]:
    """Chroma's server (``chroma run`` from the installed chromadb) on 127.0.0.1:``port``, its
    data in ``folder``."""
    program = Path(sys.executable).with_name("chroma")
    if not program.exists():
        raise EngineStartFailed(
            f"Chroma's server program is not at {program}: install the pinned chromadb in this "
            "environment (make setup)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    return [str(program), "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)]


def chroma_url(port: int) -> str:
    """The URL of the private Chroma server (``BOT_CHROMA_URL``)."""
    return f"http://127.0.0.1:{port}"


def wait_for_chroma(url: str, process: subprocess.Popen[bytes] | None = None) -> None:
    """Until the Chroma server at ``url`` answers its heartbeat (listening is not enough: it
    opens its port before its database is ready)."""
    deadline = time.monotonic() + ENGINE_START_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(url + CHROMA_HEARTBEAT, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            if process is not None and process.poll() is not None:
                raise EngineStartFailed(f"the Chroma server for {url} exited") from exc
            if time.monotonic() > deadline:
                raise EngineStartFailed(f"the Chroma server at {url} did not answer") from exc
        time.sleep(0.05)  # poll interval: the heartbeat is the server's only readiness signal


def start_chroma(folder: Path, port: int) -> subprocess.Popen[bytes]:
    """A Chroma server on ``port`` with its data in ``folder``, answering when this returns; its
    output goes to ``folder/chroma.log``."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "chroma.log").open("ab") as log:
        server = subprocess.Popen(
            chroma_command(folder / "data", port),
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
    try:
        wait_for_chroma(chroma_url(port), server)
    except BaseException:
        stop_chroma(server)
        raise
    return server


def stop_chroma(server: subprocess.Popen[bytes]) -> None:
    """Stop a Chroma server started by ``start_chroma`` (SIGTERM; its writes are on disk)."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


@contextmanager
def private_chroma(folder: Path) -> Iterator[str]:
    """A Chroma server of its own under ``folder`` on a free port until the block ends; yields
    its URL. The knowledge base in it stays in ``folder`` between runs."""
    port = free_port()
    server = start_chroma(folder, port)
    try:
        yield chroma_url(port)
    finally:
        stop_chroma(server)


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
