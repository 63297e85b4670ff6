"""Admins are people (issue 14): a console account with the ``admin`` role uses the admin API
under its own name, so the audit log says which admin exported or erased a customer; the shared
admin token stays for scripts. On the real hub (real SQLite), Rasa down."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.app import HubServices, Settings, create_app
from bot.app import app as cli
from tests.launch import free_port
from tests.test_console_api import PASSWORD, login
from tests.test_privacy_rights import say

ADMIN = "a" * 32
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
KEY = "k" * 32  # the key test_privacy_rights.say sends
CUSTOMER = "customer-42"
EXPORT = f"/admin/privacy/customers/rest/{CUSTOMER}/export"


def hub_settings(tmp_path: Path, **overrides: Any) -> Settings:
    nobody = free_port()
    values: dict[str, Any] = {
        "var_dir": tmp_path,
        "rasa_port": nobody,
        "actions_port": nobody,
        "api_key": KEY,
        "admin_token": ADMIN,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def hub(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        agents = services(test_client).agents
        run = test_client.portal.call  # type: ignore[union-attr]
        run(lambda: agents.create("ada", PASSWORD, role="admin"))
        run(lambda: agents.create("sam", PASSWORD, role="supervisor"))
        run(lambda: agents.create("olga", PASSWORD))
        say(test_client, CUSTOMER, "hi")
        yield test_client


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    yield from hub(hub_settings(tmp_path))


def services(client: TestClient) -> HubServices:
    return client.app.state.services  # type: ignore[attr-defined,no-any-return]


def agent_id(client: TestClient, username: str) -> str:
    agents = client.portal.call(services(client).agents.all)  # type: ignore[union-attr]
    return str(next(a.id for a in agents if a.username == username))


def audit(client: TestClient, action: str) -> list[tuple[str, str]]:
    records = client.portal.call(  # type: ignore[union-attr]
        lambda: services(client).audit.list(customer_id=CUSTOMER, action=action)
    )
    return [(r.actor_kind, r.actor_id) for r in records]


def still_there(client: TestClient) -> bool:
    found = client.portal.call(services(client).conversations.find, "rest", CUSTOMER)  # type: ignore[union-attr]
    return found is not None


def test_an_admin_exports_and_erases_under_their_own_name(client: TestClient) -> None:
    login(client, "ada")
    me = client.get("/console/api/me").json()
    assert (me["role"], me["supervises"]) == ("admin", True)
    assert client.get("/console/api/supervisor").status_code == 200  # oversees as supervisors do

    exported = client.get(EXPORT, params={"reason": "customer asked by phone"})
    assert exported.status_code == 200, exported.text
    data = json.loads(zipfile.ZipFile(io.BytesIO(exported.content)).read("data.json"))
    assert data["customer"]["sender"] == CUSTOMER
    assert client.get(f"/admin/privacy/customers/rest/{CUSTOMER}/consents").status_code == 200
    assert client.get("/admin/knowledge/sources").status_code == 200  # the whole admin API

    erased = client.request(
        "DELETE", f"/admin/privacy/customers/rest/{CUSTOMER}", json={"reason": "by phone"}
    )
    assert erased.status_code == 200, erased.text
    ada = agent_id(client, "ada")
    assert audit(client, "privacy.export") == [("admin", ada)]
    assert audit(client, "consent.read") == [("admin", ada)]
    assert audit(client, "privacy.erase") == [("admin", ada)]
    assert not still_there(client)


def test_the_shared_token_is_named_as_such(client: TestClient) -> None:
    assert client.get(EXPORT, headers=ADMIN_AUTH).status_code == 200
    assert audit(client, "privacy.export") == [("admin", "admin-api")]


def test_a_change_without_the_csrf_token_is_refused_and_erases_nothing(
    client: TestClient,
) -> None:
    login(client, "ada")
    del client.headers["X-CSRF-Token"]
    refused = client.request("DELETE", f"/admin/privacy/customers/rest/{CUSTOMER}")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert still_there(client)
    assert audit(client, "privacy.erase") == []


@pytest.mark.parametrize("username", ["sam", "olga"])
def test_other_roles_cannot_use_the_admin_api(client: TestClient, username: str) -> None:
    login(client, username)
    for method, path in [
        ("get", EXPORT),
        ("delete", f"/admin/privacy/customers/rest/{CUSTOMER}"),
        ("get", "/admin/privacy/audit"),
        ("get", "/admin/knowledge/sources"),
    ]:
        response = client.request(method, path)
        assert response.status_code == 403, (method, path)
        assert "the admin API is for admins" in response.json()["detail"]
    assert still_there(client)
    assert audit(client, "privacy.export") == []


def test_a_wrong_token_is_not_rescued_by_a_session(client: TestClient) -> None:
    """With an Authorization header the caller is whoever the header says (a script that got
    the cookie jar of an admin's browser does not fall back to it)."""
    login(client, "ada")
    response = client.get(EXPORT, headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert audit(client, "privacy.export") == []


def test_an_expired_session_is_told_to_log_in_again(client: TestClient) -> None:
    login(client, "ada")
    assert client.post("/console/api/logout").status_code == 200
    client.cookies.set("console_session", "no-longer-a-session")
    response = client.get(EXPORT)
    assert response.status_code == 401
    assert "log in to the console again" in response.json()["detail"]


def test_admin_accounts_need_no_shared_token(tmp_path: Path) -> None:
    for client in hub(hub_settings(tmp_path, admin_token=None)):
        closed = client.get(EXPORT)
        assert closed.status_code == 503
        assert "log in to the console as an admin" in closed.json()["detail"]
        login(client, "ada")
        assert client.get(EXPORT).status_code == 200


def test_the_cli_adds_admins_and_names_the_roles(tmp_path: Path) -> None:
    env = {"BOT_VAR_DIR": str(tmp_path)}
    runner = CliRunner()
    added = runner.invoke(
        cli, ["agents", "add", "ada", "--password", PASSWORD, "--role", "admin"], env=env
    )
    assert added.exit_code == 0, added.output
    assert "added admin ada" in added.output
    refused = runner.invoke(
        cli, ["agents", "add", "root", "--password", PASSWORD, "--role", "root"], env=env
    )
    assert refused.exit_code != 0
    assert "role must be one of agent, supervisor, admin" in refused.output
