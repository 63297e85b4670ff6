"""Rasa's model swap through the platform's entry point (bot/app/rasa_main.py), on the real
Rasa of the shared platform: a conversation is answered while ``PUT /model`` loads, the new model
serves once the PUT returns, and a model that does not load leaves the old one answering."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import pytest
import yaml

from bot.app import rasa_main
from bot.app._rasa_runtime import write_rasa_runtime_files
from tests.conftest import PLATFORM_RASA_TOKEN
from tests.launch import PlatformProcess
from tests.rasa_script import run_in_rasa
from tests.servers import rabbitmq_server
from tests.test_rasa_events import settings_for

pytestmark = pytest.mark.integration

AUTH = {"token": PLATFORM_RASA_TOKEN}
LOAD_TIMEOUT_S = 300.0  # a model load on two busy cores
PARSE_TIMEOUT_S = 60.0  # far above a parse (~0.1 s), far below "waits for the load"


@pytest.fixture
async def rasa(platform: PlatformProcess) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the platform's Rasa; the model served before the test is served after it."""
    async with httpx.AsyncClient(base_url=platform.rasa_url, params=AUTH) as client:
        served = await serving(client)
        yield client
        if await serving(client) != served:
            response = await client.put(
                "/model",
                json={"model_file": str(platform_model(platform, served))},
                timeout=LOAD_TIMEOUT_S,
            )
            assert response.status_code == 204, response.text


def platform_model(platform: PlatformProcess, name: str) -> Path:
    """The archive the platform's Rasa serves (``bot train`` keeps it under models/)."""
    path = (platform.project_root / "models" / name).resolve()
    assert path.is_file(), f"the served model {name} is not in models/"
    return path


async def serving(client: httpx.AsyncClient) -> str:
    response = await client.get("/status", timeout=PARSE_TIMEOUT_S)
    assert response.status_code == 200, response.text
    return str(response.json()["model_file"])


async def parse(client: httpx.AsyncClient, text: str = "where is my order?") -> dict[str, Any]:
    response = await client.post("/model/parse", json={"text": text}, timeout=PARSE_TIMEOUT_S)
    assert response.status_code == 200, response.text
    parsed: dict[str, Any] = response.json()
    return parsed


async def put_model(client: httpx.AsyncClient, path: Path) -> httpx.Response:
    return await client.put("/model", json={"model_file": str(path)}, timeout=LOAD_TIMEOUT_S)


async def test_a_message_is_parsed_while_a_model_loads(
    rasa: httpx.AsyncClient, tmp_path: Path
) -> None:
    """The model is a FIFO in a folder (Rasa loads a folder's newest archive): Rasa's loading
    blocks reading it until the test writes, so the load is surely under way when the parse is
    sent; stock Rasa 3.6 reads on its event loop and would answer the parse only after."""
    before = await serving(rasa)
    expected = (await parse(rasa))["intent"]["name"]
    folder = tmp_path / "models"
    folder.mkdir()
    fifo = folder / "gated.tar.gz"
    os.mkfifo(fifo)
    put = asyncio.create_task(put_model(rasa, folder))
    writer: BinaryIO | None = None
    try:
        # Opening the write end returns once Rasa's loader has opened the read end.
        writer = await asyncio.wait_for(asyncio.to_thread(open, fifo, "wb"), LOAD_TIMEOUT_S)
        parsed = await parse(rasa)
        assert (parsed["intent"]["name"], put.done()) == (expected, False)
    finally:
        if writer is None:  # the loader never opened it: release the thread that waits
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        else:
            writer.write(b"the gate closes on bytes that are no model")
            writer.close()
    response = await put
    assert response.status_code == 400, response.text
    assert "is not a readable Rasa model archive" in response.json()["message"]
    assert await serving(rasa) == before


async def test_the_new_model_serves_once_the_put_returns(
    rasa: httpx.AsyncClient, platform: PlatformProcess, tmp_path: Path
) -> None:
    before = await serving(rasa)
    copy = tmp_path / "swapped-in.tar.gz"  # the same model under another name: told apart
    shutil.copyfile(platform_model(platform, before), copy)
    response = await put_model(rasa, copy)
    assert (response.status_code, response.text) == (204, "")
    assert await serving(rasa) == "swapped-in.tar.gz"
    assert (await parse(rasa, "我要退货"))["intent"]["name"] == "request_return_refund"


def garbage(_model: Path, path: Path) -> None:
    path.write_bytes(b"\x00not a model archive\xff" * 64)


def truncated(model: Path, path: Path) -> None:
    path.write_bytes(model.read_bytes()[: model.stat().st_size // 2])


def not_a_tar(_model: Path, path: Path) -> None:
    path.write_bytes(gzip.compress(b"a gzip file, but no tar inside" * 64))


@pytest.mark.parametrize("corrupt", [garbage, truncated, not_a_tar])
async def test_a_model_that_does_not_load_leaves_the_old_one_answering(
    rasa: httpx.AsyncClient, platform: PlatformProcess, tmp_path: Path, corrupt: Any
) -> None:
    before = await serving(rasa)
    broken = tmp_path / "broken.tar.gz"
    corrupt(platform_model(platform, before), broken)
    response = await put_model(rasa, broken)
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["reason"], body["details"]) == (
        "BadRequest",
        {"parameter": "model_file", "in": "body"},
    )
    assert body["message"].startswith(f"'{broken}' is not a readable Rasa model archive (")
    assert body["message"].endswith("The model served before keeps answering.")
    assert await serving(rasa) == before
    assert (await parse(rasa, "我要退货"))["intent"]["name"] == "request_return_refund"


async def test_a_missing_model_is_refused_with_the_path(
    rasa: httpx.AsyncClient, tmp_path: Path
) -> None:
    before = await serving(rasa)
    missing = tmp_path / "nowhere.tar.gz"
    response = await put_model(rasa, missing)
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith(f"No model at '{missing}' on the Rasa server")
    assert await serving(rasa) == before


# Two swaps and a failed one, in Rasa's environment, through the module's own loading function;
# the Sanic app stands where `rasa run` keeps the serving agent.
SWAPS = """
import asyncio, importlib.util, json, sys
from rasa.core.utils import AvailableEndpoints
from sanic import Sanic

spec = importlib.util.spec_from_file_location("rasa_main", sys.argv[1])
rasa_main = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rasa_main)

async def main():
    endpoints = AvailableEndpoints.read_endpoints(sys.argv[2])
    model, broken = sys.argv[3], sys.argv[4]
    app = Sanic("rasa_server")
    app.ctx.agent = first = await rasa_main.agent_from_disk(model, endpoints)
    refused = None
    try:
        await rasa_main.agent_from_disk(broken, endpoints)
    except Exception as exc:
        refused = type(exc).__name__
    broker = first.tracker_store.event_broker
    ready_after_refusal = broker.is_ready()
    second = await rasa_main.agent_from_disk(model, endpoints)
    print(json.dumps({
        "broker": type(broker).__name__,
        "refused": refused,
        "ready_after_refusal": ready_after_refusal,
        "same_broker": second.tracker_store.event_broker is broker,
        "same_lock_store": second.lock_store is first.lock_store,
        "served": second.is_ready(),
    }))
    await broker.close()

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def rabbitmq_url() -> Iterator[str]:
    with rabbitmq_server() as url:
        yield url


async def test_a_swap_keeps_the_serving_event_broker_and_lock_store(
    rasa: httpx.AsyncClient, platform: PlatformProcess, tmp_path: Path, rabbitmq_url: str
) -> None:
    """Each swap made a broker of its own (an AMQP connection never closed: one more at every
    retrain) and a lock store Rasa's route then threw away; a load that failed closed the broker
    it made. Now the new agent publishes through the serving agent's broker, which a failed load
    leaves open."""
    model = platform_model(platform, await serving(rasa))
    broken = tmp_path / "broken.tar.gz"
    garbage(model, broken)
    settings = settings_for(tmp_path, rabbitmq_url, "swap_events")
    written, _credentials = write_rasa_runtime_files(settings)
    endpoints = tmp_path / "broker-only.yml"  # the broker alone: no PostgreSQL or Redis here
    broker = yaml.safe_load(written.read_text(encoding="utf-8"))["event_broker"]
    endpoints.write_text(yaml.safe_dump({"event_broker": broker}), encoding="utf-8")
    run = await asyncio.to_thread(
        run_in_rasa,
        settings,
        SWAPS,
        rasa_main.__file__,
        str(endpoints),
        str(model),
        str(broken),
        timeout_s=LOAD_TIMEOUT_S,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {
        "broker": "PikaEventBroker",
        "refused": "ErrorResponse",
        "ready_after_refusal": True,
        "same_broker": True,
        "same_lock_store": True,
        "served": True,
    }
