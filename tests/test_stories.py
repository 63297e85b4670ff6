"""Every test story passes: `python -m bot eval stories` against the project's model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from bot.app import PROJECT_ROOT
from bot.dialogue._evaluation import TEST_STORIES

pytestmark = pytest.mark.integration


def test_there_are_enough_test_stories_in_both_languages() -> None:
    stories = yaml.safe_load(TEST_STORIES.read_text(encoding="utf-8"))["stories"]
    names = [s["story"] for s in stories]
    assert len(names) >= 30
    assert sum("(zh" in n for n in names) >= 12
    assert sum("(en" in n for n in names) >= 12


def test_all_test_stories_pass() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bot", "eval", "stories"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    result = json.loads(completed.stdout) if completed.stdout.strip() else None
    assert completed.returncode == 0, (result, completed.stderr[-3000:])
    assert result is not None
    assert result["failed"] == []
    assert result["passed"] == result["stories"] >= 30
