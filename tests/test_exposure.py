"""Secure by default: no start exposed beyond loopback without the settings that protect it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.app import Settings, app, create_app
from tests.conftest import query_hub_db
from tests.test_console_api import PASSWORD


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


@pytest.mark.parametrize(
    ("values", "secure"),
    [
        ({}, False),  # this machine only: http://127.0.0.1 keeps working
        ({"public_url": "https://hub.example.com"}, True),  # behind an https proxy
        ({"public_url": "http://hub.example.com"}, False),
        ({"host": "0.0.0.0", "api_key": "k" * 32}, True),
        ({"host": "0.0.0.0", "api_key": "k" * 32, "console_secure_cookies": "false"}, False),
        ({"console_secure_cookies": "true"}, True),
    ],
)
def test_console_cookies_are_secure_wherever_the_console_is_reached_from_elsewhere(
    values: dict[str, str], secure: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings = _settings(var_dir=str(tmp_path_factory.mktemp("var")), **values)
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        agents = client.app.state.services.agents  # type: ignore[attr-defined]
        client.portal.call(agents.create, "olga", PASSWORD)  # type: ignore[union-attr]
        login = client.post("/console/api/login", json={"username": "olga", "password": PASSWORD})
        assert login.status_code == 200, login.text
    assert all(
        ("; secure" in cookie.lower()) == secure for cookie in login.headers.get_list("set-cookie")
    )


@pytest.mark.parametrize(
    ("client", "allowed"), [(("203.0.113.9", 5000), False), (("127.0.0.1", 5000), True)]
)
def test_a_login_over_plain_http_that_would_lose_its_cookies_says_so(
    client: tuple[str, int], allowed: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Secure cookies over http from another machine are dropped by the browser: the login
    would seem to do nothing, so it is refused with what to do. Browsers keep them for
    http://localhost, so a login from this machine works."""
    var_dir = tmp_path_factory.mktemp("var")
    settings = _settings(var_dir=str(var_dir), console_secure_cookies="true")
    with TestClient(create_app(settings), client=client) as http:
        agents = http.app.state.services.agents  # type: ignore[attr-defined]
        http.portal.call(agents.create, "olga", PASSWORD)  # type: ignore[union-attr]
        login = http.post("/console/api/login", json={"username": "olga", "password": PASSWORD})
        if allowed:
            assert login.status_code == 200, login.text
            return
        assert login.status_code == 400
        assert "over https only" in login.json()["detail"]
        assert "BOT_CONSOLE_SECURE_COOKIES=false" in login.json()["detail"]
        assert "set-cookie" not in login.headers
    assert query_hub_db(var_dir, "SELECT count(*) FROM agent_sessions")[0][0] == 0
