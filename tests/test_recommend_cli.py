"""``python -m bot recommend``: import a shop's events, train, evaluate — JSON out, errors said."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.app import app

FIXTURE = Path(__file__).parent / "data" / "recommend" / "u.data"


def _run(args: list[str], var_dir: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args, env={"BOT_VAR_DIR": str(var_dir)})
    return result.exit_code, result.stdout, result.stderr


def _events(path: Path) -> Path:
    lines = ["user_id,item_id,kind,at"]
    for user in range(1, 13):
        for item in ("EL-001", "EL-002", "EL-003", "CL-001", "CL-002")[: 2 + user % 4]:
            lines.append(f"u{user},{item},purchase,2026-11-{10 + user:02d}T10:00:00")
    lines.append("u99,EL-001,teleport,2026-11-20T10:00:00")  # a kind no shop records
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_shops_events_are_imported_and_trained_on(tmp_path: Path) -> None:
    code, out, err = _run(
        ["recommend", "import-events", str(_events(tmp_path / "e.csv"))], tmp_path
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["imported"] == sum(2 + u % 4 for u in range(1, 13))
    assert [(p["line"], "teleport" in p["message"]) for p in report["skipped"]] == [(44, True)]
    code, out, err = _run(["recommend", "train"], tmp_path)
    assert code == 0, err
    trained = json.loads(out)
    assert (trained["users"], trained["version"]) == (12, 1)
    assert (tmp_path / "recommend" / "models").is_dir()


def test_eval_prints_every_model_beside_the_baselines(tmp_path: Path) -> None:
    args = ["recommend", "eval", "--ratings", str(FIXTURE), "--k", "5", "--models", "itemknn"]
    code, out, err = _run(args, tmp_path)
    assert code == 0, err
    report = json.loads(out)
    assert {"itemknn", "popularity", "random"} <= set(report["models"])
    assert 0.0 <= report["models"]["itemknn"]["precision@5"] <= 1.0
    assert report["protocol"]["split"] == "per-user random 75%/25%, seed 42"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["recommend", "eval", "--ratings", "/nonexistent/u.data"], "u.data"),
        (["recommend", "eval", "--ratings", str(FIXTURE), "--models", "magic"], "magic"),
        (["recommend", "import-events", "/nonexistent.csv"], "nonexistent.csv"),
    ],
)
def test_bad_input_says_what_is_wrong(args: list[str], said: str, tmp_path: Path) -> None:
    code, out, err = _run(args, tmp_path)
    assert code == 2
    assert said in err
    assert "Traceback" not in err
    assert out == ""
