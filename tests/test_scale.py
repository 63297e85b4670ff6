"""The ``scale`` profile on real engines: two hub replicas in this process (uvicorn on free
ports) sharing a private PostgreSQL and a private Redis; Rasa and the action server are down.

Covered here: the settings' checks, socket.io emits crossing replicas, console log-outs dropping
sockets on every replica, rate limits counted across replicas, job leases (one replica per
period, taken over when the holder stops renewing), per-conversation locks, and Rasa's endpoints
(tracker store on PostgreSQL, lock store on Redis) opened by Rasa's own code.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
import redis.asyncio as aioredis
import socketio
import yaml

from bot.app import Settings
from bot.app._engines import init_postgres, start_postgres, stop_postgres, wait_for_port
from bot.app._rasa_runtime import rasa_runtime_environment, write_rasa_runtime_files
from bot.app._scale import ConsoleRelay, RedisConversationLocks, RedisJobLease
from bot.app._topology import InvalidReplicas, Replicas, nginx_config, parse_replicas
from bot.conversations import ConversationBusy
from tests.launch import free_port
from tests.live_hub import serving
from tests.rasa_script import run_in_rasa
from tests.servers import redis_server
from tests.test_console_api import PASSWORD
from tests.test_webchat_channel import WAIT_S, Hub, Widget
from tests.waiting import wait_until_async


@pytest.fixture
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
def pg_database(postgres_url: str) -> str:
    """A fresh, empty database on the session's private PostgreSQL."""
    name = f"scale_{uuid.uuid4().hex[:12]}"
    plain = postgres_url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return postgres_url.rsplit("/", 1)[0] + f"/{name}"


def scale_settings(var_dir: Path, database: str, redis_url: str, **overrides: Any) -> Settings:
    nobody = free_port()  # Rasa and the action server are down
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=var_dir,
        rasa_port=nobody,
        actions_port=nobody,
        profile="scale",
        database_url=database,
        redis_url=redis_url,
        **overrides,
    )


@pytest.fixture
async def replicas(
    tmp_path: Path, pg_database: str, redis_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Hub, Hub]]:
    """Two hub replicas on one PostgreSQL database and one Redis, each with its own var/."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(
            serving(scale_settings(tmp_path / "a", pg_database, redis_url, **overrides))
        )
        b = await stack.enter_async_context(
            serving(scale_settings(tmp_path / "b", pg_database, redis_url, **overrides))
        )
        yield a, b


# ---- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({}, "needs BOT_DATABASE_URL on PostgreSQL"),
        ({"database_url": "sqlite:///x.db"}, "needs BOT_DATABASE_URL on PostgreSQL"),
        ({"database_url": "postgresql+psycopg://h/db"}, "needs BOT_REDIS_URL"),
        (
            {"database_url": "postgresql+psycopg://h/db", "redis_url": "http://h:6379"},
            "needs BOT_REDIS_URL",
        ),
    ],
)
def test_the_scale_profile_refuses_stores_replicas_cannot_share(
    overrides: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        Settings(_env_file=None, profile="scale", **overrides)  # type: ignore[call-arg]


def test_the_scale_profile_counts_limits_and_keeps_rasa_events_in_shared_stores() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        profile="scale",
        database_url="postgresql+psycopg://bot:secret@db:5432/hub",
        redis_url="redis://:pw@cache:6380/2",
    )
    assert settings.rate_limit_storage_uri == "redis://:pw@cache:6380/2"
    assert settings.rasa_tracker_url == "postgresql+psycopg://bot:secret@db:5432/hub"
    # Rasa's environment has psycopg2; the password travels in the environment only.
    assert rasa_runtime_environment(settings) == {
        "BOT_RASA_TRACKER_URL": "postgresql://bot:secret@db:5432/hub",
        "BOT_RASA_LOCK_STORE_PASSWORD": "pw",
    }
    embedded = Settings(_env_file=None)  # type: ignore[call-arg]
    assert embedded.rate_limit_storage_uri == "memory://"
    assert embedded.rasa_tracker_url.startswith("sqlite:///")


# ---- Rasa's stores, opened by Rasa's own code ----------------------------------------------

RASA_PROBE = """
import asyncio, sys
from rasa.core.lock_store import LockStore
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config

async def main() -> None:
    path = sys.argv[1]
    store = TrackerStore.create(read_endpoint_config(path, "tracker_store"), Domain.empty())
    tracker = DialogueStateTracker("probe-sender", [])
    tracker.update(UserUttered("hello from rasa"))
    await store.save(tracker)
    locks = LockStore.create(read_endpoint_config(path, "lock_store"))
    first = locks.issue_ticket("probe-sender")
    second = LockStore.create(read_endpoint_config(path, "lock_store")).issue_ticket("probe-sender")
    print(type(store).__name__, type(locks).__name__, first, second)

asyncio.run(main())
"""


def test_rasa_keeps_its_tracker_in_postgresql_and_locks_in_redis(
    tmp_path: Path, pg_database: str, redis_url: str
) -> None:
    settings = scale_settings(tmp_path, pg_database, redis_url)
    endpoints, _credentials = write_rasa_runtime_files(settings)
    written = yaml.safe_load(endpoints.read_text(encoding="utf-8"))
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    assert written["lock_store"] == {
        "type": "redis",
        "url": "127.0.0.1",
        "port": port,
        "db": 0,
        "key_prefix": "rasa",
        "use_ssl": False,
    }
    assert written["tracker_store"]["dialect"] == "postgresql"
    probe = run_in_rasa(settings, RASA_PROBE, str(endpoints))
    assert probe.returncode == 0, probe.stderr[-3000:]
    # A second lock store (another Rasa replica) sees the first one's ticket and queues behind.
    assert probe.stdout.split()[:4] == ["SQLTrackerStore", "RedisLockStore", "0", "1"]
    # The hub reads the same events table (privacy export, retention).
    plain = pg_database.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(plain) as connection:
        rows = connection.execute("SELECT sender_id, data FROM events").fetchall()
    texts = [json.loads(data).get("text") for sender, data in rows if sender == "probe-sender"]
    assert "hello from rasa" in texts
    # Rasa's lock keys sit under its prefix in the shared Redis.
    assert redis.Redis.from_url(redis_url).keys("rasa*") == [b"rasa:lock:probe-sender"]


# ---- two hub replicas ----------------------------------------------------------------------


async def test_an_emit_on_one_replica_reaches_a_widget_on_the_other(
    replicas: tuple[Hub, Hub],
) -> None:
    a, b = replicas
    widget = Widget(b.url)
    try:
        session_id = await widget.start()
        ack = await widget.say("hello", session_id)  # stored on PostgreSQL, Rasa is down
        assert ack["ok"] is False
        conversation_id = await a.conversation_of(session_id)  # A sees what B stored
        sent = await a.services.conversations.post(
            conversation_id, "An agent on replica A answers.", author="agent"
        )
        reply = await widget.next("bot_uttered", count=2)
        assert (reply["message_id"], reply["text"]) == (sent.id, sent.text)
    finally:
        await widget.client.disconnect()


@pytest.mark.parametrize("replicas", [{"rate_limit_messages_per_minute": 2}], indirect=True)
async def test_rate_limits_count_across_replicas(
    replicas: tuple[Hub, Hub], rate_window: None
) -> None:
    # rate_window after replicas: the fresh minute starts once both replicas are up.
    a, b = replicas
    message = {"sender": "customer-7", "text": "hi"}
    async with httpx.AsyncClient(timeout=WAIT_S) as client:
        first = await client.post(f"{a.url}/api/messages", json=message)
        second = await client.post(f"{b.url}/api/messages", json=message)
        third = await client.post(f"{a.url}/api/messages", json=message)
    assert [first.status_code, second.status_code] == [503, 503]  # stored; Rasa is down
    assert third.status_code == 429
    conversation_id = await b.services.conversations.find("rest", "customer-7")
    assert conversation_id is not None
    history = await b.services.conversations.history(conversation_id)
    assert [m.text for m in history] == ["hi", "hi"]  # the refused one was not stored


async def test_logging_out_on_one_replica_drops_the_agents_socket_on_the_other(
    replicas: tuple[Hub, Hub],
) -> None:
    a, b = replicas
    await a.services.agents.create("olga", PASSWORD)
    dropped = asyncio.Event()
    sio = socketio.AsyncClient(reconnection=False)

    async def on_disconnect(*_args: Any) -> None:
        dropped.set()

    sio.on("disconnect", on_disconnect, namespace="/console")
    async with httpx.AsyncClient(base_url=a.url, timeout=WAIT_S) as http:
        login = await http.post(
            "/console/api/login", json={"username": "olga", "password": PASSWORD}
        )
        login.raise_for_status()
        http.headers["X-CSRF-Token"] = login.cookies["console_csrf"]
        cookie = f"console_session={login.cookies['console_session']}"
        await sio.connect(
            b.url,
            namespaces=["/console"],
            transports=["websocket"],
            headers={"Cookie": cookie},
            wait_timeout=10,
        )
        try:
            assert (await http.post("/console/api/logout")).status_code == 200
            async with asyncio.timeout(WAIT_S):
                await dropped.wait()  # B dropped it: B got A's log-out through Redis
        finally:
            if sio.connected:
                await sio.disconnect()


# ---- jobs, locks and the relay on Redis ----------------------------------------------------


async def test_a_job_lease_runs_each_period_on_one_replica_and_passes_on_when_it_lapses(
    redis_url: str,
) -> None:
    one, two = aioredis.Redis.from_url(redis_url), aioredis.Redis.from_url(redis_url)
    try:
        a, b = RedisJobLease(one), RedisJobLease(two)
        async with a.hold("ticket-sla", 0.6) as held_a:
            assert held_a is True
            async with b.hold("ticket-sla", 0.6) as held_b:
                assert held_b is False  # running on A
        async with b.hold("ticket-sla", 0.6) as held_b:
            assert held_b is False  # A ran this period

        # A stops taking the lease (a dead replica): it lapses, and B takes the job.
        async def lapsed() -> bool:
            return not await two.exists("bot:job:ticket-sla")

        await wait_until_async(lapsed, "A's lease on ticket-sla to lapse", timeout_s=WAIT_S)
        async with b.hold("ticket-sla", 0.6) as held_b:
            assert held_b is True
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_running_job_keeps_its_lease_past_its_period(redis_url: str) -> None:
    one, two = aioredis.Redis.from_url(redis_url), aioredis.Redis.from_url(redis_url)
    try:
        async with RedisJobLease(one).hold("recommend-train", 0.3) as held:
            assert held is True
            await asyncio.sleep(0.9)  # a run three periods long (the time passing is the test)
            async with RedisJobLease(two).hold("recommend-train", 0.3) as other:
                assert other is False
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_conversation_is_handled_by_one_replica_at_a_time(redis_url: str) -> None:
    one, two = aioredis.Redis.from_url(redis_url), aioredis.Redis.from_url(redis_url)
    try:
        a = RedisConversationLocks(one, lease_s=30, wait_s=10)
        b = RedisConversationLocks(two, lease_s=30, wait_s=10)
        order: list[str] = []
        a_holds, a_may_finish = asyncio.Event(), asyncio.Event()

        async def first() -> None:
            async with a.hold("webchat:s1"):
                order.append("a starts")
                a_holds.set()
                await a_may_finish.wait()
                order.append("a ends")

        async def second() -> None:
            await a_holds.wait()
            async with b.hold("webchat:s1"):
                order.append("b starts")

        async def other_conversation() -> None:
            await a_holds.wait()
            async with b.hold("webchat:s2"):  # another customer does not wait
                order.append("b other")
            a_may_finish.set()

        await asyncio.gather(first(), second(), other_conversation())
        assert order == ["a starts", "b other", "a ends", "b starts"]

        impatient = RedisConversationLocks(two, lease_s=30, wait_s=0.3)
        async with a.hold("webchat:s1"):
            with pytest.raises(ConversationBusy, match="was not saved, please send it again"):
                async with impatient.hold("webchat:s1"):
                    pass
    finally:
        await one.aclose()
        await two.aclose()


async def test_the_console_relay_ignores_what_it_cannot_read(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    relay = ConsoleRelay(client)
    got: list[tuple[str, dict[str, Any]]] = []
    arrived = asyncio.Event()

    async def deliver(event: str, data: dict[str, Any]) -> None:
        got.append((event, data))
        arrived.set()

    await relay.start(deliver)
    try:
        await client.publish("bot:console-events", "<script>not json")
        await client.publish("bot:console-events", json.dumps({"event": "x"}))
        await relay.publish("session_ended", {"session": "k1"})
        async with asyncio.timeout(WAIT_S):
            await arrived.wait()
        assert got == [("session_ended", {"session": "k1"})]
    finally:
        await relay.stop()
        await client.aclose()


# ---- nginx in front of the replicas --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("hub=2,hub=3", "names hub twice"),
        ("hub=0", "give 1 to 16"),
        ("hub=99", "give 1 to 16"),
        ("web=2", "write kind=count"),
        ("hub:2", "write kind=count"),
        ("", "write kind=count"),
    ],
)
def test_replicas_option_says_what_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(InvalidReplicas, match=complaint):
        parse_replicas(text)


def test_replicas_option_reads_counts() -> None:
    assert parse_replicas("hub=2, rasa=3") == Replicas(hub=2, rasa=3, actions=1)


async def test_nginx_serves_the_widget_over_websocket_and_skips_a_stopped_replica(
    tmp_path: Path, pg_database: str, redis_url: str
) -> None:
    nobody = free_port()
    front = scale_settings(tmp_path / "front", pg_database, redis_url, port=free_port())
    async with AsyncExitStack() as keep_a, AsyncExitStack() as keep_b:
        a = await keep_a.enter_async_context(
            serving(scale_settings(tmp_path / "a", pg_database, redis_url))
        )
        b = await keep_b.enter_async_context(
            serving(scale_settings(tmp_path / "b", pg_database, redis_url))
        )
        ports = {
            "hub": [int(h.url.rsplit(":", 1)[1]) for h in (a, b)],
            "rasa": [nobody],
            "actions": [nobody],
        }
        prefix = tmp_path / "nginx"
        prefix.mkdir()
        conf = prefix / "nginx.conf"
        conf.write_text(nginx_config(front, ports, prefix), encoding="utf-8")
        checked = await asyncio.create_subprocess_exec(
            *("nginx", "-t", "-p", str(prefix), "-c", str(conf)), stderr=subprocess.PIPE
        )
        _out, complaint = await checked.communicate()
        assert checked.returncode == 0, complaint.decode()
        nginx = await asyncio.create_subprocess_exec(
            *("nginx", "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"),
            stderr=subprocess.DEVNULL,
        )
        try:
            await asyncio.to_thread(wait_for_port, front.port)
            url = f"http://127.0.0.1:{front.port}"
            # A widget through nginx (websocket upgrade), answered from replica B.
            widget = Widget(url)
            session_id = await widget.start()
            await widget.say("hello", session_id)
            conversation_id = await a.conversation_of(session_id)
            sent = await b.services.conversations.post(
                conversation_id, "from replica B", author="agent"
            )
            assert (await widget.next("bot_uttered", count=2))["message_id"] == sent.id
            await widget.client.disconnect()
            await keep_b.aclose()  # replica B stops; nginx must pass everything to A
            async with httpx.AsyncClient(base_url=url, timeout=WAIT_S) as client:
                statuses = [
                    (
                        await client.post("/api/messages", json={"sender": f"c{n}", "text": "hi"})
                    ).status_code
                    for n in range(6)
                ]
            assert statuses == [503] * 6  # answered by A: stored, Rasa is down (never a 502)
            for n in range(6):
                assert await a.services.conversations.find("rest", f"c{n}") is not None
        finally:
            nginx.terminate()
            await nginx.wait()


# ---- a PostgreSQL restart ------------------------------------------------------------------


async def test_the_hub_is_back_within_10_s_of_a_postgresql_restart_and_loses_nothing(
    tmp_path: Path, redis_url: str
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="test-pg-restart-"))
    data = init_postgres(folder)
    port = free_port()
    database = start_postgres(data, port)
    try:
        async with serving(scale_settings(tmp_path, database, redis_url)) as hub:
            async with httpx.AsyncClient(base_url=hub.url, timeout=WAIT_S) as client:

                async def send(text: str) -> int:
                    answer = await client.post(
                        "/api/messages", json={"sender": "pg-restart", "text": text}
                    )
                    if "nothing was saved" in answer.text:
                        return -answer.status_code  # the database's refusal, told apart
                    return answer.status_code

                assert await send("before the restart") == 503  # stored; Rasa is down
                await asyncio.to_thread(stop_postgres, data)
                assert await send("while the database is down") == -503
                await asyncio.to_thread(start_postgres, data, port)
                back = time.monotonic()
                # The pool's pre-ping replaces the dead connections: the first message after
                # the database is back is stored (503: Rasa is down), or one within 10 s.
                statuses: list[int] = []
                while time.monotonic() - back < 10:
                    statuses.append(await send(f"after the restart {len(statuses)}"))
                    if statuses[-1] == 503:
                        break
                    await asyncio.sleep(0.2)  # a client retrying, as a shop's server would
                assert statuses[-1] == 503, statuses
            conversation_id = await hub.services.conversations.find("rest", "pg-restart")
            assert conversation_id is not None
            texts = [m.text for m in await hub.services.conversations.history(conversation_id)]
            assert texts[0] == "before the restart"
            assert texts[-1] == f"after the restart {len(statuses) - 1}"
            assert "while the database is down" not in texts  # refused, not half-kept
    finally:
        stop_postgres(data)
        shutil.rmtree(folder, ignore_errors=True)


async def test_a_conversation_lock_outlives_its_lease_while_held_and_frees_when_its_replica_dies(
    redis_url: str,
) -> None:
    one, two = aioredis.Redis.from_url(redis_url), aioredis.Redis.from_url(redis_url)
    try:
        a = RedisConversationLocks(one, lease_s=0.3, wait_s=10)
        impatient = RedisConversationLocks(two, lease_s=0.3, wait_s=0.2)
        async with a.hold("rest:slow"):
            await asyncio.sleep(0.9)  # a turn three leases long (the time passing is the test)
            with pytest.raises(ConversationBusy):
                async with impatient.hold("rest:slow"):
                    pass
        # A replica that died holding a lock left the key behind, unrenewed.
        await one.set("bot:conversation:rest:orphan", "dead-replica", px=500)
        started = time.monotonic()
        async with RedisConversationLocks(two, lease_s=0.3, wait_s=10).hold("rest:orphan"):
            waited = time.monotonic() - started
        assert 0.2 < waited < 5
    finally:
        await one.aclose()
        await two.aclose()
