"""Background retraining through the real platform: a message answered by the real Rasa, an
agent's correction of its intent accepted, then one retraining run trains a model with it
(`rasa train`, minutes), scores the served and the new model on the test split (the real
evaluation code), keeps the report, and Rasa, told with ``PUT /model``, serves the new model and
keeps answering."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from bot.app import Settings
from bot.app._nlu_retrain import NluRetrainer
from bot.app._nlu_scores import held_out_scores
from bot.corrections import CorrectionService
from bot.dialogue import (
    TEST_DATA,
    RasaClient,
    RasaToolchain,
    domain_intents,
    load_examples,
    train,
)
from bot.storage import Database
from tests.conftest import PLATFORM_RASA_TOKEN
from tests.launch import PlatformProcess
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

TEXT = "my parcel arrived crushed and the mug inside is broken"


def say(platform: PlatformProcess, sender: str, text: str) -> list[str]:
    response = httpx.post(
        f"{platform.hub_url}/api/messages", json={"sender": sender, "text": text}, timeout=60
    )
    assert response.status_code == 200, response.text
    return [r["text"] for r in response.json()["replies"] if r.get("text")]


def the_message(var_dir: Path, sender: str) -> tuple[int, str, str]:
    """The customer message's id, its conversation's public id and the intent Rasa gave it
    (the hub keeps it just after the reply, in its own process: waited for)."""

    def kept() -> tuple[int, str, str] | None:
        with closing(sqlite3.connect(var_dir / "hub.db")) as db:
            row = db.execute(
                "SELECT m.id, c.public_id, i.intent FROM messages m "
                "JOIN conversations c ON c.id = m.conversation_id "
                "JOIN analytics_message_intents i ON i.message_id = m.id "
                "WHERE c.channel = 'rest' AND c.sender = ? AND m.direction = 'in'",
                (sender,),
            ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]))

    return wait_until(kept, f"the platform to keep the intent of {sender}'s message", timeout_s=30)


@pytest.mark.timeout(1800)  # a `rasa train` and two Rasa processes scoring the test split
async def test_an_accepted_correction_is_trained_and_hot_swapped(
    platform: PlatformProcess, tmp_path: Path
) -> None:
    sender = f"retrain-{uuid.uuid4().hex[:8]}"
    assert say(platform, sender, TEXT)
    message_id, conversation_id, predicted = the_message(platform.var_dir, sender)
    right = "complain" if predicted != "complain" else "request_return_refund"

    settings = Settings(_env_file=None, var_dir=platform.var_dir)  # type: ignore[call-arg]
    database = Database(settings.hub_database_url)
    service = CorrectionService(database, domain_intents())
    made = await service.correct(
        message_id=message_id, conversation_id=conversation_id, agent="olga", right_intent=right
    )
    await service.review(made.id, reviewer="sam", accept=True)

    rasa = RasaClient(platform.rasa_url, platform.actions_url, 30.0, token=PLATFORM_RASA_TOKEN)
    await rasa.start()
    before = await rasa.serving_model()
    assert before is not None
    # Its own models folder: the shared one keeps the platform's models as they are.
    toolchain = RasaToolchain(
        settings.rasa_python,
        tmp_path / "models",
        settings.var_dir / "rasa" / "cache",
        tmp_path / "nlu",
    )
    # The served model, where the retrainer looks for it to score it (a link: no copy).
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / before).symlink_to((settings.models_dir / before).resolve())
    try:
        # Any score swaps here (tolerance 1): the verdict's arithmetic is tested with a stand-in
        # (tests/test_nlu_retrain.py); this is about the real scores and the real swap.
        retrainer = NluRetrainer(
            toolchain, service, [platform.rasa_url], PLATFORM_RASA_TOKEN, tolerance=1.0
        )
        result = await retrainer.run()
        assert (result.trained, result.loaded, result.swapped) == (True, 1, True)
        report = await service.last_retrain()
        assert report is not None
        assert (report["before_model"], report["after_model"]) == (before, result.model)
        assert report["added"] == 1
        sizes = {lang: len(load_examples(TEST_DATA / lang)) for lang in ("zh", "en")}
        for side in ("before", "after"):
            assert sorted(report[side]) == ["en", "zh"]
            for language, scores in report[side].items():
                assert scores["examples"] == sizes[language]
                assert 0.8 <= scores["macro_f1"] <= 1.0  # the project's model scores ~0.95
                assert 0.8 <= scores["accuracy"] <= 1.0
        assert await rasa.serving_model() == result.model != before
        assert say(platform, sender, "thanks, goodbye")  # Rasa answers with the new model
        again = await retrainer.run()
        assert (again.model, again.trained, again.loaded) == (result.model, False, 0)
    finally:
        # The shared platform goes back to its own model for the tests after this one.
        await rasa.load_model((settings.models_dir / before).resolve())
        await rasa.close()
        database.dispose()


@pytest.mark.timeout(1200)  # Rasa loads the model and parses every test message
def test_the_project_model_is_scored_on_the_test_split(tmp_path: Path) -> None:
    """The scorer the retraining and `bot train` use, on the real model through real Rasa: the
    same figures as `python -m bot eval nlu` (one Rasa process for both languages)."""
    settings = Settings(_env_file=None, var_dir=tmp_path)  # type: ignore[call-arg]
    model = train(settings.rasa_toolchain)  # the platform's model: trained only when stale
    scores = held_out_scores(settings.rasa_toolchain, model)
    assert sorted(scores) == ["en", "zh"]
    for language, found in scores.items():
        assert found.examples == len(load_examples(TEST_DATA / language))
        assert 0.85 <= found.macro_f1 <= 1.0  # README: zh 0.983, en 0.961 on the test split
        assert 0.85 <= found.accuracy <= 1.0
