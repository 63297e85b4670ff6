from __future__ import annotations

from pathlib import Path

from bot.dialogue import training_fingerprint


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
