"""The project's NLU model on the held-out files: `python -m bot eval nlu` meets the goals."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bot.app import PROJECT_ROOT

pytestmark = pytest.mark.integration

MACRO_F1_GOAL = 0.92
ENTITY_F1_GOAL = 0.90


def test_held_out_scores_meet_the_goals_in_both_languages() -> None:
    # Uses the project's model (trained once when its inputs change, shared with `bot run`).
    completed = subprocess.run(
        [sys.executable, "-m", "bot", "eval", "nlu"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout)
    assert set(result["languages"]) == {"zh", "en"}
    for language, scores in result["languages"].items():
        assert scores["examples"] >= 100, language  # the test half of the held-out data
        assert scores["macro_f1"] >= MACRO_F1_GOAL, (language, scores)
        assert scores["entities"]["f1"] >= ENTITY_F1_GOAL, (language, scores)
