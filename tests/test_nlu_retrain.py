"""Background retraining from accepted corrections: the corrections file, the model for the
current inputs, and Rasa told to load it (``PUT /model`` with the hub's token) only when it
serves another one. Rasa is a local HTTP stand-in answering as Rasa's HTTP API does; the model
file is made beforehand so that no `rasa train` runs here (the integration test trains)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.app import Settings
from bot.app._cli_nlu import CORRECTIONS_FILE, known_keys, scored_training, write_training_file
from bot.app._nlu_retrain import NluRetrainer
from bot.app._nlu_scores import LanguageScore
from bot.app._topology import parse_replicas, scale_topology
from bot.corrections import CorrectionService, training_yaml
from bot.dialogue import DialogueUnavailable, RasaClient, RasaToolchain, domain_intents, model_path
from bot.insights import store_message_intent
from bot.storage import Conversation, Database, Message
from tests.launch import free_port

TOKEN = "rasa-token-for-tests"


class RasaStandIn:
    """Answers ``GET /status`` with the model it serves and takes ``PUT /model``."""

    def __init__(self) -> None:
        self.serving = "old-model.tar.gz"
        self.loads: list[dict[str, Any]] = []
        self.fail_with: int | None = None

    async def status(self, request: web.Request) -> web.Response:
        if request.query.get("token") != TOKEN:
            return web.json_response({"message": "no token"}, status=401)
        return web.json_response(
            {"model_file": f"/somewhere/{self.serving}", "num_active_training_jobs": 0}
        )

    async def load(self, request: web.Request) -> web.Response:
        if request.query.get("token") != TOKEN:
            return web.json_response({"message": "no token"}, status=401)
        if self.fail_with is not None:
            return web.json_response({"message": "broken model"}, status=self.fail_with)
        body = await request.json()
        self.loads.append(body)
        self.serving = Path(body["model_file"]).name
        return web.Response(status=204)


@pytest.fixture
async def replicas() -> AsyncIterator[list[tuple[RasaStandIn, str]]]:
    """Two Rasa stand-ins, as two replicas, each with its URL."""
    made: list[tuple[RasaStandIn, str]] = []
    runners: list[web.AppRunner] = []
    for _ in range(2):
        stand_in = RasaStandIn()
        app = web.Application()
        app.router.add_get("/status", stand_in.status)
        app.router.add_put("/model", stand_in.load)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        made.append((stand_in, f"http://127.0.0.1:{port}"))
    yield made
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
def rasa(replicas: list[tuple[RasaStandIn, str]]) -> tuple[RasaStandIn, str]:
    return replicas[0]


@pytest.fixture
async def corrections(tmp_path: Path) -> AsyncIterator[CorrectionService]:
    database = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    await database.migrate()
    yield CorrectionService(database, domain_intents())
    database.dispose()


async def accepted_correction(service: CorrectionService, database_url: str, text: str) -> None:
    database = Database(database_url)

    def store(session: Any) -> int:
        conversation = Conversation(public_id="c" * 32, channel="webchat", sender="v1", mode="bot")
        message = Message(conversation=conversation, direction="in", author="customer", text=text)
        session.add_all([conversation, message])
        session.flush()
        store_message_intent(session.connection(), message.id, "greet", 0.3)
        return int(message.id)

    message_id = await database.session(store)
    database.dispose()
    made = await service.correct(
        message_id=message_id, conversation_id="c" * 32, agent="olga", right_intent="complain"
    )
    await service.review(made.id, reviewer="sam", accept=True)


async def test_a_changed_correction_set_is_swapped_into_each_replica_once(
    tmp_path: Path, replicas: list[tuple[RasaStandIn, str]], corrections: CorrectionService
) -> None:
    (stand_in, first_url), (other, other_url) = replicas
    toolchain = RasaToolchain(
        Path("python3"), tmp_path / "models", tmp_path / "cache", tmp_path / "nlu"
    )
    text = "我的快递盒子被压扁了，里面的杯子碎了"
    await accepted_correction(corrections, f"sqlite:///{tmp_path / 'hub.db'}", text)
    # The model for these inputs, as a finished training would leave it.
    expected = training_yaml(await corrections.accepted_examples(), known_keys())
    write_training_file(tmp_path / "nlu", expected)
    target = model_path(toolchain)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"a trained model")

    other.serving = target.name  # this replica has it already (restarted since, say)
    retrainer = NluRetrainer(
        toolchain, corrections, [first_url, other_url], TOKEN, scorer=scores_of({})
    )
    first = await retrainer.run()
    assert first.as_json() == {"model": target.name, "trained": False, "loaded": 1, "swapped": True}
    assert stand_in.loads == [{"model_file": str(target.resolve())}]
    assert other.loads == []
    assert (tmp_path / "nlu" / CORRECTIONS_FILE).read_text(encoding="utf-8") == expected
    # Nothing changed since: Rasa already serves it, so it is left alone.
    again = await retrainer.run()
    assert again.as_json() == {"model": target.name, "trained": False, "loaded": 0, "swapped": True}
    assert len(stand_in.loads) == 1
    # A wrong token is refused by Rasa, and said so.
    with pytest.raises(DialogueUnavailable, match="HTTP 401"):
        await NluRetrainer(toolchain, corrections, [first_url], "wrong", scorer=scores_of({})).run()


async def test_a_refused_model_is_an_error_and_rasa_keeps_its_model(
    tmp_path: Path, rasa: tuple[RasaStandIn, str], corrections: CorrectionService
) -> None:
    stand_in, url = rasa
    stand_in.fail_with = 400
    toolchain = RasaToolchain(
        Path("python3"), tmp_path / "models", tmp_path / "cache", tmp_path / "nlu"
    )
    target = model_path(toolchain)  # no corrections: the plain model
    target.parent.mkdir(parents=True)
    target.write_bytes(b"a trained model")
    with pytest.raises(DialogueUnavailable, match=r"did not load .*HTTP 400"):
        await NluRetrainer(toolchain, corrections, [url], TOKEN, scorer=scores_of({})).run()
    assert stand_in.serving == "old-model.tar.gz"
    assert not (tmp_path / "nlu" / CORRECTIONS_FILE).exists()


def scores_of(
    table: dict[str, tuple[float, float]], calls: list[str] | None = None
) -> Callable[[Path], dict[str, LanguageScore]]:
    """A scorer answering from a table (model name → zh and en macro-F1; others 0.9), as the
    test split would: the real one runs Rasa (tests/test_nlu_retrain_live.py)."""

    def scorer(model: Path) -> dict[str, LanguageScore]:
        if calls is not None:
            calls.append(model.name)
        zh, en = table.get(model.name, (0.9, 0.9))
        return {"zh": LanguageScore(zh, zh, 100), "en": LanguageScore(en, en, 100)}

    return scorer


@pytest.mark.parametrize(
    ("new_scores", "swapped"),
    [
        ((0.90, 0.895), True),  # 0.005 lower in English: within the tolerance
        ((0.93, 0.95), True),
        ((0.95, 0.88), False),  # English 0.02 lower: kept out, whatever Chinese gained
    ],
)
async def test_a_new_model_is_swapped_in_only_when_not_worse(
    tmp_path: Path,
    rasa: tuple[RasaStandIn, str],
    corrections: CorrectionService,
    new_scores: tuple[float, float],
    swapped: bool,
) -> None:
    stand_in, url = rasa
    toolchain = RasaToolchain(
        Path("python3"), tmp_path / "models", tmp_path / "cache", tmp_path / "nlu"
    )
    served = tmp_path / "models" / "old-model.tar.gz"  # the model Rasa serves, scored 0.9
    served.parent.mkdir(parents=True)
    served.write_bytes(b"the served model")
    text = "我的快递盒子被压扁了，里面的杯子碎了"
    await accepted_correction(corrections, f"sqlite:///{tmp_path / 'hub.db'}", text)
    write_training_file(
        tmp_path / "nlu", training_yaml(await corrections.accepted_examples(), known_keys())
    )
    target = model_path(toolchain)
    target.write_bytes(b"a trained model")
    (tmp_path / "nlu" / CORRECTIONS_FILE).unlink()  # as before the run: not written yet
    calls: list[str] = []
    retrainer = NluRetrainer(
        toolchain,
        corrections,
        [url],
        TOKEN,
        tolerance=0.01,
        scorer=scores_of({target.name: new_scores}, calls),
    )
    result = await retrainer.run()
    assert (result.swapped, result.loaded) == (swapped, 1 if swapped else 0)
    assert stand_in.serving == (target.name if swapped else "old-model.tar.gz")
    assert sorted(calls) == sorted(["old-model.tar.gz", target.name])
    report = await corrections.last_retrain()
    assert report is not None
    assert (report["model"], report["swapped"], report["not_worse"]) == (
        target.name,
        swapped,
        swapped,
    )
    assert (report["before_model"], report["after_model"]) == ("old-model.tar.gz", target.name)
    assert report["before"] == {
        "zh": {"macro_f1": 0.9, "accuracy": 0.9, "examples": 100},
        "en": {"macro_f1": 0.9, "accuracy": 0.9, "examples": 100},
    }
    assert report["after"]["en"]["macro_f1"] == new_scores[1]
    assert report["added"] == 1
    assert f"+++ b/{CORRECTIONS_FILE}" in report["diff"]
    assert f"+    - {text}" in report["diff"]
    # The next run does not score the same model again, and keeps to its verdict.
    again = await retrainer.run()
    assert (again.swapped, again.loaded) == (swapped, 0)
    assert len(calls) == 2


async def test_a_relative_model_path_is_refused(rasa: tuple[RasaStandIn, str]) -> None:
    client = RasaClient(rasa[1], rasa[1], 2.0, token=TOKEN)
    await client.start()
    try:
        with pytest.raises(ValueError, match="absolute path"):
            await client.load_model(Path("models/x.tar.gz"))
    finally:
        await client.close()


def test_run_with_replicas_gives_the_hubs_each_rasa_replica(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=tmp_path,
        profile="scale",
        database_url="postgresql+psycopg://bot:secret@db:5432/hub",
        redis_url="redis://cache:6380/2",
    )
    assert settings.rasa_replica_urls == [settings.rasa_url]
    topology = scale_topology(settings, tmp_path / "m.tar.gz", parse_replicas("hub=2,rasa=2"))
    urls = [f"http://{settings.rasa_host}:{port}" for port in topology.ports["rasa"]]
    hubs = [spec for spec in topology.processes if spec.name.startswith("hub-")]
    assert len(hubs) == 2
    for hub in hubs:
        ports = hub.env["BOT_RASA_REPLICA_PORTS"]
        assert Settings(_env_file=None, rasa_replica_ports=ports).rasa_replica_urls == urls  # type: ignore[call-arg]


def test_the_train_command_shows_the_diff_and_the_scores_before_and_after(
    tmp_path: Path,
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, var_dir=tmp_path, models_dir=tmp_path / "models"
    )
    text = "快递盒子压扁了，杯子也碎了"

    async def setup() -> list[str]:
        database = Database(settings.hub_database_url)
        await database.migrate()
        service = CorrectionService(database, domain_intents())
        await accepted_correction(service, settings.hub_database_url, text)
        examples = await service.accepted_examples()
        database.dispose()
        return [training_yaml(examples, known_keys())]

    (corrections_text,) = asyncio.run(setup())
    toolchain = settings.rasa_toolchain
    # The models for the inputs before and after, as finished trainings would leave them: no
    # `rasa train` runs here (tests/test_nlu_retrain_live.py trains for real).
    before = model_path(toolchain)
    before.parent.mkdir(parents=True)
    before.write_bytes(b"the model before")
    assert toolchain.extra_data is not None
    written = write_training_file(toolchain.extra_data, corrections_text)
    assert written is not None
    after = model_path(toolchain)
    after.write_bytes(b"the model after")
    written.unlink()

    calls: list[str] = []
    scorer = scores_of({before.name: (0.95, 0.93), after.name: (0.96, 0.92)}, calls)
    done = scored_training(settings, scorer=scorer)
    assert done.model == after
    assert (done.corrections.accepted, done.corrections.written) == (1, 1)
    assert done.diff.startswith(f"--- a/{CORRECTIONS_FILE}\n+++ b/{CORRECTIONS_FILE}\n")
    assert f"+    - {text}\n" in done.diff
    assert calls == [before.name, after.name]
    assert done.report is not None
    assert done.report["before"] == {
        "zh": {"macro_f1": 0.95, "accuracy": 0.95, "examples": 100},
        "en": {"macro_f1": 0.93, "accuracy": 0.93, "examples": 100},
    }
    assert done.report["after"] == {
        "zh": {"macro_f1": 0.96, "accuracy": 0.96, "examples": 100},
        "en": {"macro_f1": 0.92, "accuracy": 0.92, "examples": 100},
    }
    assert (done.report["added"], done.report["not_worse"]) == (1, True)

    async def last() -> dict[str, Any] | None:
        database = Database(settings.hub_database_url)
        try:
            return await CorrectionService(database, domain_intents()).last_retrain()
        finally:
            database.dispose()

    kept = asyncio.run(last())
    assert kept is not None
    assert (kept["model"], kept["source"], kept["before_model"]) == (
        after.name,
        "train command",
        before.name,
    )
    # Nothing changed since: no diff, nothing scored.
    again = scored_training(settings, scorer=scorer)
    assert (again.model, again.diff, again.report) == (after, "", None)
    assert len(calls) == 2
