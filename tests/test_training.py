from __future__ import annotations

import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.dialogue import RasaToolchain, model_path, train, training_fingerprint


def _inputs(root: Path) -> tuple[Path, ...]:
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "config.yml").write_text("pipeline: []\n")
    (root / "data" / "nlu.yml").write_text("nlu: []\n")
    return (root / "config.yml", root / "data")


def test_fingerprint_is_stable_and_follows_content(tmp_path: Path) -> None:
    inputs = _inputs(tmp_path)
    first = training_fingerprint(inputs, root=tmp_path)
    assert training_fingerprint(inputs, root=tmp_path) == first
    (tmp_path / "data" / "nlu.yml").write_text("nlu: [changed]\n")
    changed = training_fingerprint(inputs, root=tmp_path)
    assert changed != first
    (tmp_path / "data" / "nlu.yml").write_text("nlu: []\n")
    assert training_fingerprint(inputs, root=tmp_path) == first


def test_fingerprint_sees_new_and_renamed_files(tmp_path: Path) -> None:
    inputs = _inputs(tmp_path)
    first = training_fingerprint(inputs, root=tmp_path)
    (tmp_path / "data" / "rules.yml").write_text("rules: []\n")
    with_new = training_fingerprint(inputs, root=tmp_path)
    assert with_new != first
    (tmp_path / "data" / "rules.yml").rename(tmp_path / "data" / "stories.yml")
    assert training_fingerprint(inputs, root=tmp_path) not in {first, with_new}


def test_bytecode_caches_do_not_count(tmp_path: Path) -> None:
    inputs = _inputs(tmp_path)
    first = training_fingerprint(inputs, root=tmp_path)
    (tmp_path / "data" / "__pycache__").mkdir()
    (tmp_path / "data" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert training_fingerprint(inputs, root=tmp_path) == first


def test_project_fingerprint_is_a_short_hex() -> None:
    fingerprint = training_fingerprint()
    assert len(fingerprint) == 16
    assert int(fingerprint, 16) >= 0


# Stands in for Rasa's Python: `-m rasa train ... --out OUT` writes OUT/model.tar.gz once the
# test opens the gate (a FIFO), and counts its calls.
RASA_STAND_IN = """
import os, pathlib, sys
with open(os.environ["STAND_IN_CALLS"], "a") as calls:
    calls.write(" ".join(sys.argv[1:4]) + "\\n")
with open(os.environ["STAND_IN_GATE"]) as gate:
    gate.read()
out = pathlib.Path(sys.argv[sys.argv.index("--out") + 1])
(out / "model.tar.gz").write_bytes(b"a model")
"""


def test_two_trainings_at_once_train_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A second training of the same inputs (another platform starting, the CLI) waits for the
    first and takes its model; before, both trained and the first to finish deleted the other's
    unfinished output, failing it."""
    gate, calls = tmp_path / "gate", tmp_path / "calls"
    os.mkfifo(gate)
    python = tmp_path / "rasa-python"
    python.write_text(f"#!{sys.executable}\n{RASA_STAND_IN}", encoding="utf-8")
    python.chmod(0o755)
    monkeypatch.setenv("STAND_IN_CALLS", str(calls))
    monkeypatch.setenv("STAND_IN_GATE", str(gate))
    toolchain = RasaToolchain(python, tmp_path / "models", tmp_path / "cache")
    waiting = threading.Event()

    class Waiting(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "Another process is training" in record.getMessage():
                waiting.set()

    caplog.set_level(logging.INFO, logger="bot.dialogue._training")
    logging.getLogger("bot.dialogue._training").addHandler(handler := Waiting())
    try:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(train, toolchain)
            # Opening the gate's write end returns once the first training's Rasa has opened it.
            with gate.open("w") as release:
                second = pool.submit(train, toolchain)
                waited = waiting.wait(60)
                release.write("go")  # whatever happened: no Rasa stand-in is left waiting
            assert waited, "the second training did not wait for the first"
            assert first.result(60) == second.result(60) == model_path(toolchain)
    finally:
        logging.getLogger("bot.dialogue._training").removeHandler(handler)
    assert calls.read_text().splitlines() == ["-m rasa train"]
    assert model_path(toolchain).read_bytes() == b"a model"
    assert not list((tmp_path / "models").glob(".training-*"))
