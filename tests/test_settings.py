from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.app import PROJECT_ROOT, Settings


def _readme_settings() -> dict[str, str]:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(BOT_[A-Z0-9_]+)` \| (.+?) \| .+ \|$", readme, flags=re.MULTILINE)
    return dict(rows)


def _shown_default(value: object) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, Path):
        value = value.relative_to(PROJECT_ROOT)
    return f"`{value}`"


def test_readme_lists_every_setting_with_its_default() -> None:
    documented = _readme_settings()
    expected = {
        f"BOT_{name.upper()}": _shown_default(field.default)
        for name, field in Settings.model_fields.items()
    }
    assert documented == expected


def test_every_setting_has_a_description() -> None:
    missing = [name for name, f in Settings.model_fields.items() if not f.description]
    assert missing == []


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("BOT_PORT=9100\nBOT_MAX_TEXT_CHARS=10\n", encoding="utf-8")
    monkeypatch.setenv("BOT_PORT", "9200")  # the environment wins over .env
    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert (settings.port, settings.max_text_chars) == (9200, 10)
    assert settings.hub_url == "http://127.0.0.1:9200"


def test_default_databases_live_under_var_dir(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, var_dir=tmp_path)  # type: ignore[call-arg]
    assert settings.hub_database_url == f"sqlite:///{tmp_path}/hub.db"
    assert settings.rasa_tracker_url == f"sqlite:///{tmp_path}/rasa/tracker.db"


def test_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_PORT", "eighty")
    with pytest.raises(ValueError, match="port"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_dotenv_is_the_project_folders_wherever_the_command_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert Settings.model_config["env_file"] == PROJECT_ROOT / ".env"
    (tmp_path / ".env").write_text("BOT_PORT=9300\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # a .env in the working folder is not the project's
    monkeypatch.delenv("BOT_PORT", raising=False)
    if not (PROJECT_ROOT / ".env").exists():
        assert Settings().port == 8000
