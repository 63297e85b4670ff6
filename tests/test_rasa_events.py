"""Rasa's events through a real RabbitMQ into the hub: Rasa's own pika event broker (in Rasa's
environment, from the endpoints file the hub writes) publishes, the hub's consumer reads."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import psycopg
import pytest
import yaml

from bot.app import Settings
from bot.app._rasa_events import RasaEvents
from bot.app._rasa_runtime import rasa_runtime_environment, write_rasa_runtime_files
from tests.app_standin import AppStandIn, running
from tests.launch import free_port
from tests.live_hub import serving
from tests.rasa_script import run_in_rasa
from tests.servers import rabbitmq_server
from tests.test_scale import pg_database, redis_url

__all__ = ["pg_database", "redis_url"]  # fixtures

QUEUE = "rasa_events"

RASA_PUBLISH = """
import asyncio, json, sys
from rasa.core.brokers.broker import EventBroker
from rasa.shared.core.events import UserUttered
from rasa.utils.endpoints import read_endpoint_config

async def main():
    broker = await EventBroker.create(read_endpoint_config(sys.argv[1], "event_broker"))
    for text, message_id in json.loads(sys.argv[2]).items():
        intent = {"name": "check_order_status", "confidence": 0.93}
        ranking = [intent, {"name": "complain", "confidence": 0.05},
                   {"name": "greet", "confidence": 0.01}, {"name": "thanks", "confidence": 0.01}]
        event = UserUttered(
            text,
            intent=intent,
            parse_data={"intent": intent, "intent_ranking": ranking, "entities": [], "text": text},
            metadata={"hub_message_id": message_id},
        )
        broker.publish({"sender_id": "conversation-1", **event.as_dict()})
    await asyncio.gather(*broker._background_tasks)  # the publishes it scheduled
    await broker.close()
    print(type(broker).__name__)

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def rabbitmq_url() -> Iterator[str]:
    with rabbitmq_server() as url:
        yield url


def settings_for(tmp_path: Path, rabbitmq_url: str, queue: str, **overrides: Any) -> Settings:
    nobody = free_port()
    values: dict[str, Any] = {
        "var_dir": tmp_path,
        "rasa_port": nobody,
        "actions_port": nobody,
        "profile": "scale",
        "database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none",  # not opened here
        "redis_url": "redis://127.0.0.1:1/0",
        "rabbitmq_url": rabbitmq_url,
        "rasa_events_queue": queue,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def rasa_publishes(settings: Settings, *texts: str) -> None:
    """Rasa's own broker code publishes a user message event per text."""
    rasa_publishes_for(settings, {text: 40 + n for n, text in enumerate(texts)})


def rasa_publishes_for(settings: Settings, messages: dict[str, int]) -> None:
    """Rasa's own broker code publishes a user message event per text, tagged with its id."""
    endpoints, _credentials = write_rasa_runtime_files(settings)
    probe = run_in_rasa(settings, RASA_PUBLISH, str(endpoints), json.dumps(messages))
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert probe.stdout.split()[-1] == "PikaEventBroker"


class Collected:
    """What the hub's handler saw; fails the first ``failures`` events it is given."""

    def __init__(self, wanted: int, failures: int = 0) -> None:
        self.events: list[dict[str, Any]] = []
        self.failures = failures
        self.wanted = wanted
        self.done = asyncio.Event()

    async def handle(self, event: dict[str, Any]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("the database went away")
        self.events.append(event)
        if len(self.events) >= self.wanted:
            self.done.set()


async def test_rasa_writes_the_broker_endpoint_with_the_password_kept_out_of_the_file(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, "amqp://shop:s%40cret@mq.internal:5673/", QUEUE)
    endpoints, _ = write_rasa_runtime_files(settings)
    written = yaml.safe_load(endpoints.read_text(encoding="utf-8"))["event_broker"]
    assert written == {
        "type": "pika",
        "url": "mq.internal",
        "port": 5673,
        "username": "shop",
        "password": "${BOT_RASA_BROKER_PASSWORD}",
        "queues": [QUEUE],
        "exchange_name": "rasa-exchange",
    }
    assert "s@cret" not in endpoints.read_text(encoding="utf-8")
    assert rasa_runtime_environment(settings)["BOT_RASA_BROKER_PASSWORD"] == "s@cret"


async def test_events_published_before_the_hub_starts_are_read_and_failures_retried(
    tmp_path: Path, rabbitmq_url: str
) -> None:
    settings = settings_for(tmp_path, rabbitmq_url, "events-early")
    # Rasa runs first (the queue is durable): nothing is lost while no hub reads.
    await asyncio.to_thread(rasa_publishes, settings, "查一下订单", "where is my parcel")
    collected = Collected(wanted=2, failures=1)
    consumer = RasaEvents(rabbitmq_url, "events-early", collected.handle)
    await consumer.start()
    try:
        await asyncio.wait_for(collected.done.wait(), timeout=60)
    finally:
        await consumer.stop()
    # The event that failed once came back; each is handled exactly once.
    texts = sorted(e["text"] for e in collected.events)
    assert texts == sorted(["查一下订单", "where is my parcel"])
    first = next(e for e in collected.events if e["text"] == "查一下订单")
    assert first["sender_id"] == "conversation-1"
    assert first["parse_data"]["intent"] == {"name": "check_order_status", "confidence": 0.93}
    assert first["metadata"] == {"hub_message_id": 40}
    assert (consumer.handled, consumer.dropped) == (2, 0)


async def test_an_unreadable_event_is_dropped_and_the_next_one_read(
    tmp_path: Path, rabbitmq_url: str
) -> None:
    collected = Collected(wanted=1)
    consumer = RasaEvents(rabbitmq_url, "events-poison", collected.handle)
    await consumer.start()
    try:
        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.get_exchange("rasa-exchange")
            for body in (b"\xff not json", b"[1, 2]", json.dumps({"event": "bot"}).encode()):
                await exchange.publish(aio_pika.Message(body), routing_key="")
        await asyncio.wait_for(collected.done.wait(), timeout=60)
    finally:
        await consumer.stop()
    assert collected.events == [{"event": "bot"}]
    assert consumer.dropped == 2


def test_the_profile_refuses_a_rabbitmq_url_that_is_not_amqp(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="BOT_RABBITMQ_URL must be an AMQP URL"):
        settings_for(tmp_path, "redis://127.0.0.1:6379/0", QUEUE)


async def test_a_scale_hub_stores_the_intent_rasa_published_for_its_message(
    tmp_path: Path, rabbitmq_url: str, pg_database: str, redis_url: str
) -> None:
    with running(AppStandIn()) as rasa:  # Rasa's REST webhook, answering with an echo
        settings = settings_for(
            tmp_path,
            rabbitmq_url,
            "events-hub",
            database_url=pg_database,
            redis_url=redis_url,
            rasa_port=rasa.port,
            actions_port=rasa.port,
        )
        async with serving(settings) as hub, httpx.AsyncClient(base_url=hub.url) as client:
            answer = await client.post(
                "/api/messages", json={"sender": "s-1", "text": "查一下订单"}, timeout=30
            )
            assert answer.status_code == 200, answer.text
            assert rasa.rasa_seen[-1]["metadata"]["hub_message_id"] > 0
            message_id = rasa.rasa_seen[-1]["metadata"]["hub_message_id"]
            consumer: RasaEvents = hub.app.state.rasa_events
            # What Rasa publishes for that message (its own broker code), and one for a
            # message the hub never stored: only the first is kept.
            await asyncio.to_thread(
                rasa_publishes_for, settings, {"查一下订单": message_id, "rasa shell": 999_999}
            )
            await asyncio.wait_for(consumer.wait_handled(2), timeout=60)
    plain = pg_database.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(plain) as connection:
        rows = connection.execute(
            "SELECT message_id, intent, confidence, ranking FROM analytics_message_intents"
        ).fetchall()
    top = [["check_order_status", 0.93], ["complain", 0.05], ["greet", 0.01]]
    assert rows == [(message_id, "check_order_status", 0.93, top)]
