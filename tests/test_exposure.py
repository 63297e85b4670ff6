"""Secure by default: no start exposed beyond loopback without the settings that protect it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bot.app import Settings, app, create_app


def _settings(**values: str) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"host": "0.0.0.0"}, "BOT_API_KEY"),
        ({"host": "192.168.1.20"}, "BOT_API_KEY"),
        ({"host": "shop.example.com"}, "BOT_API_KEY"),
        ({"rasa_host": "0.0.0.0"}, "BOT_RASA_HOST"),
        ({"actions_host": "::"}, "BOT_ACTIONS_HOST"),
    ],
)
def test_an_exposed_hub_without_protection_refuses_to_start(
    values: dict[str, str], named: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    var_dir = str(tmp_path_factory.mktemp("var"))
    with pytest.raises(ValueError, match=named):
        create_app(_settings(var_dir=var_dir, **values))
    env = {"BOT_" + key.upper(): value for key, value in values.items()}
    result = CliRunner().invoke(app, ["run"], env={**env, "BOT_VAR_DIR": var_dir})
    assert result.exit_code == 2
    assert named in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_and_protected_hubs_start(
    host: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    var_dir = str(tmp_path_factory.mktemp("var"))
    assert create_app(_settings(var_dir=var_dir, host=host)).title
    exposed = _settings(var_dir=var_dir, host="0.0.0.0", api_key="k" * 32)
    assert create_app(exposed).title
