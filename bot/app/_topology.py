"""The scale-out topology on one machine: N replicas of hub, Rasa and the action server on free
ports, and nginx in front of each kind on the ports the settings name.

Every hub replica talks to Rasa through nginx, Rasa to the action server through nginx, so a
replica that dies is skipped (nginx's passive checks: ``max_fails``/``fail_timeout`` and
``proxy_next_upstream``) until the supervisor has restarted it.

No sticky sessions for the websocket: socket.io's rooms live in Redis (``AsyncRedisManager``), so
any replica can serve any socket. Our widget and console open the websocket transport first;
only a client that falls back to HTTP long-polling must reach one replica for its whole
session (its requests carry the session id of one replica's engine.io), so polling requests
alone are routed by the client's address.
"""

from __future__ import annotations

import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from bot.app._engines import free_port
from bot.app._settings import Settings
from bot.app._supervisor import ProcessSpec, platform_processes

KINDS = ("hub", "rasa", "actions")
MAX_REPLICAS = 16
REPLICAS_SYNTAX = re.compile(r"^\s*(hub|rasa|actions)\s*=\s*(\d+)\s*$")


class InvalidReplicas(ValueError):
    """The ``--replicas`` option cannot be read; the message says how to write it."""


@dataclass(frozen=True)
class Replicas:
    """How many processes of each kind run."""

    hub: int = 1
    rasa: int = 1
    actions: int = 1


def parse_replicas(text: str) -> Replicas:
    """``"hub=2,rasa=2,actions=2"`` (kinds left out run once)."""
    counts: dict[str, int] = {}
    for part in text.split(","):
        found = REPLICAS_SYNTAX.match(part)
        if found is None:
            raise InvalidReplicas(
                f"cannot read {part.strip()!r} in --replicas; write kind=count with kinds "
                f"{', '.join(KINDS)}, e.g. hub=2,rasa=2,actions=2"
            )
        kind, count = found.group(1), int(found.group(2))
        if kind in counts:
            raise InvalidReplicas(f"--replicas names {kind} twice")
        if not 1 <= count <= MAX_REPLICAS:
            raise InvalidReplicas(f"--replicas {kind}={count}: give 1 to {MAX_REPLICAS}")
        counts[kind] = count
    return Replicas(**counts)


def with_changes(settings: Settings, **changes: object) -> Settings:
    """The settings validated again with ``changes`` (a copy would keep cached values)."""
    given = {name: getattr(settings, name) for name in settings.model_fields_set}
    return Settings(**{**given, **changes})


@dataclass(frozen=True)
class Topology:
    """The processes to supervise and the ports behind nginx."""

    processes: list[ProcessSpec]
    ports: dict[str, list[int]]
    nginx_config: Path


def scale_topology(settings: Settings, model: Path, replicas: Replicas) -> Topology:
    """Replicas of every kind on free ports, and nginx on the settings' ports in front."""
    if not settings.scale:
        raise ValueError("replicas share their stores: the settings need BOT_PROFILE=scale")
    nginx = shutil.which("nginx")
    if nginx is None:
        raise FileNotFoundError("nginx is not installed; run scripts/setup.sh")
    # One token for every Rasa replica: the hubs reach whichever nginx picks.
    token = settings.rasa_token or SecretStr(secrets.token_hex(24))
    ports = {kind: [free_port() for _ in range(getattr(replicas, kind))] for kind in KINDS}
    # The hubs tell each Rasa replica of a retrained model (nginx would reach only one).
    rasa_ports = ",".join(str(port) for port in ports["rasa"])
    shared = with_changes(settings, rasa_token=token, rasa_replica_ports=rasa_ports)
    processes: list[ProcessSpec] = []
    for kind in KINDS:
        for number, port in enumerate(ports[kind], start=1):
            own = with_changes(shared, **{_PORT_SETTING[kind]: port})
            spec = next(s for s in platform_processes(own, model) if s.name == kind)
            spec.name = f"{kind}-{number}"
            processes.append(spec)
    conf = shared.var_dir / "scale" / "nginx" / "nginx.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(nginx_config(shared, ports, conf.parent), encoding="utf-8")
    processes.append(
        ProcessSpec(
            name="nginx",
            command=[nginx, "-p", str(conf.parent), "-c", str(conf), "-g", "daemon off;"],
            health_url=f"{shared.hub_url}/healthz",
        )
    )
    return Topology(processes, ports, conf)


_PORT_SETTING = {"hub": "port", "rasa": "rasa_port", "actions": "actions_port"}


def nginx_config(settings: Settings, ports: dict[str, list[int]], prefix: Path) -> str:
    """nginx in front of each kind: hubs on ``settings.port`` (websocket upgrade), Rasa on
    ``settings.rasa_port``, the action server on ``settings.actions_port``."""

    def upstream(name: str, kind: str, balance: str) -> str:
        servers = "\n".join(
            f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in ports[kind]
        )
        # No keepalive to the replicas: a request on a kept connection to a replica that just
        # died counts as sent and a POST is not retried; a fresh connection is refused instead,
        # and nginx passes the request to the next replica (loopback connects cost ~0.1 ms).
        return f"    upstream {name} {{\n        {balance}\n{servers}\n    }}"

    def server(host: str, port: int, name: str) -> str:
        return f"""    server {{
        listen {host}:{port};
        client_max_body_size {max(settings.max_upload_bytes, settings.media_max_upload_bytes)};
        location / {{
            proxy_pass http://{name};
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_read_timeout {int(settings.rasa_timeout_s) + 30}s;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }}
    }}"""

    return f"""# Written by `python -m bot run --replicas` from the settings; edits are overwritten.
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix / "body"};
    proxy_temp_path {prefix / "proxy"};
    fastcgi_temp_path {prefix / "fastcgi"};
    uwsgi_temp_path {prefix / "uwsgi"};
    scgi_temp_path {prefix / "scgi"};
    map $http_upgrade $connection_upgrade {{ default upgrade; "" close; }}
    # Only socket.io's long-polling fallback sticks to one hub; everything else spreads.
    map $arg_transport $hub_key {{ polling $remote_addr; default $request_id; }}
{upstream("hubs", "hub", "hash $hub_key consistent;")}
{upstream("rasas", "rasa", "least_conn;")}
{upstream("action_servers", "actions", "least_conn;")}
{server(settings.host, settings.port, "hubs")}
{server(settings.rasa_host, settings.rasa_port, "rasas")}
{server(settings.actions_host, settings.actions_port, "action_servers")}
}}
"""
