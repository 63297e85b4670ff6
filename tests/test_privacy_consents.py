"""Recording customers' consents: the shop's back end for its logged-in customer (API key), an
administrator for a consent given outside the platform (admin token, CLI). The marketing gate
reads what is recorded here; the real hub, real SQLite, Rasa down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.app import Settings, create_app
from bot.app import app as cli
from tests.test_privacy_rights import ADMIN_AUTH, API, _cli_env, make_settings

CUSTOMER = "customer-42"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, tmp_path / "embeddings.sqlite")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def gate(client: TestClient, customer: str, channel: str) -> str | None:
    """Why the marketing gate refuses a send now (None: admitted)."""
    response = client.post(
        "/api/marketing/sends",
        json={"customer_id": customer, "channel": channel, "campaign": "spring"},
        headers=API,
    )
    assert response.status_code == 200, response.text
    refused: str | None = response.json()["refused"]
    return refused


def audit(client: TestClient, customer: str) -> list[tuple[str, str, str]]:
    records = client.get(
        "/admin/privacy/audit", params={"customer_id": customer}, headers=ADMIN_AUTH
    ).json()["records"]
    return [(r["action"], r["actor_kind"], r["reason"]) for r in reversed(records)]


def consent(channel: str, granted: bool, purpose: str = "marketing") -> dict[str, Any]:
    return {"sender": CUSTOMER, "purpose": purpose, "channel": channel, "granted": granted}


def test_the_shop_records_an_opt_in_that_the_marketing_gate_then_honours(
    client: TestClient,
) -> None:
    assert gate(client, CUSTOMER, "email") == "no_consent"
    granted = client.post("/api/privacy/consents", json=consent("email", True), headers=API)
    assert granted.status_code == 201, granted.text
    assert {k: v for k, v in granted.json().items() if k != "recorded_at"} == {
        "customer_id": CUSTOMER,
        "purpose": "marketing",
        "channel": "email",
        "granted": True,
        "actor_kind": "customer",
    }
    # Admitted, or held for quiet hours at the time the test runs: no longer for want of consent.
    assert gate(client, CUSTOMER, "email") != "no_consent"
    assert gate(client, CUSTOMER, "rest") == "no_consent"  # a consent is per channel

    revoked = client.post("/api/privacy/consents", json=consent("email", False), headers=API)
    assert revoked.status_code == 201, revoked.text
    assert gate(client, CUSTOMER, "email") == "no_consent"

    listed = client.get("/api/privacy/consents", params={"sender": CUSTOMER}, headers=API).json()
    assert [(c["channel"], c["granted"]) for c in listed["current"]] == [("email", False)]
    assert [c["granted"] for c in listed["history"]] == [True, False]
    assert audit(client, CUSTOMER) == [
        ("consent.grant", "customer", "marketing on email"),
        ("consent.revoke", "customer", "marketing on email"),
    ]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({**consent("email", True), "purpose": "spam"}, "purpose"),
        ({**consent("Email!", True)}, "channel must be 1 to 32 lower-case letters"),
        ({**consent("email", True), "sender": " customer-42"}, "no spaces at either end"),
        ({**consent("email", True), "granted": "maybe"}, "granted"),
        ({**consent("email", True), "extra": 1}, "extra"),
        ({k: v for k, v in consent("email", True).items() if k != "channel"}, "channel"),
    ],
)
def test_a_bad_consent_is_refused_saying_why_and_changes_nothing(
    client: TestClient, body: dict[str, Any], detail: str
) -> None:
    kept = client.post("/api/privacy/consents", json=consent("webchat", True), headers=API)
    assert kept.status_code == 201
    response = client.post("/api/privacy/consents", json=body, headers=API)
    assert response.status_code == 422, response.text
    assert detail in json.dumps(response.json())
    listed = client.get("/api/privacy/consents", params={"sender": CUSTOMER}, headers=API).json()
    assert [(c["channel"], c["granted"]) for c in listed["history"]] == [("webchat", True)]


def test_without_the_api_key_no_consent_is_read_or_recorded(client: TestClient) -> None:
    wrong = {"Authorization": "Bearer wrong"}
    assert (
        client.post("/api/privacy/consents", json=consent("email", True), headers=wrong).status_code
        == 401
    )
    assert (
        client.get("/api/privacy/consents", params={"sender": CUSTOMER}, headers=wrong).status_code
        == 401
    )
    assert (
        client.post(
            "/admin/privacy/customers/rest/customer-42/consents",
            json={"purpose": "marketing", "granted": True},
            headers=API,  # the shop's key is not the admin token
        ).status_code
        == 401
    )
    assert gate(client, CUSTOMER, "email") == "no_consent"
    assert audit(client, CUSTOMER) == []


def test_an_administrator_records_an_app_customers_consent(client: TestClient) -> None:
    """A Telegram customer agreed on a signed form: recorded under the privacy key
    (``telegram:<chat id>``), on their channel unless another is named; marketing, which names
    the contact by the chat id, reads it."""
    path = "/admin/privacy/customers/telegram/5550123/consents"
    recorded = client.post(
        path, json={"purpose": "personalisation", "granted": True}, headers=ADMIN_AUTH
    )
    assert recorded.status_code == 201, recorded.text
    assert (recorded.json()["customer_id"], recorded.json()["channel"]) == (
        "telegram:5550123",
        "telegram",
    )
    assert recorded.json()["actor_kind"] == "admin"
    assert gate(client, "5550123", "telegram") == "no_consent"  # not for marketing
    marketing = client.post(
        path, json={"purpose": "marketing", "granted": True}, headers=ADMIN_AUTH
    )
    assert marketing.status_code == 201
    assert gate(client, "5550123", "telegram") != "no_consent"
    listed = client.get(path, headers=ADMIN_AUTH).json()
    assert sorted(c["purpose"] for c in listed["current"]) == ["marketing", "personalisation"]
    bad = client.post(
        path.replace("telegram", "Tele gram"),
        json={"purpose": "marketing", "granted": True},
        headers=ADMIN_AUTH,
    )
    assert bad.status_code == 422
    assert "channel must be" in bad.json()["detail"]


def test_the_cli_lists_and_records_consents(client: TestClient, settings: Settings) -> None:
    runner = CliRunner()
    env = _cli_env(settings)
    base = ["privacy", "consent", "rest", CUSTOMER]
    granted = runner.invoke(
        cli, [*base, "--purpose", "marketing", "--grant", "--on-channel", "email"], env=env
    )
    assert granted.exit_code == 0, granted.output
    assert json.loads(granted.stdout)["channel"] == "email"
    assert gate(client, CUSTOMER, "email") != "no_consent"

    no_purpose = runner.invoke(cli, [*base, "--revoke"], env=env)
    assert no_purpose.exit_code == 2
    assert "need --purpose" in no_purpose.stderr
    bad = runner.invoke(cli, [*base, "--purpose", "spam", "--grant"], env=env)
    assert bad.exit_code == 2
    assert "purpose must be one of marketing, personalisation" in bad.stderr

    listed = runner.invoke(cli, base, env=env)
    assert listed.exit_code == 0, listed.output
    assert [(c["channel"], c["granted"]) for c in json.loads(listed.stdout)["current"]] == [
        ("email", True)
    ]
    # Listing them is a read of the customer's data, audited after the grant.
    assert audit(client, CUSTOMER)[-2:] == [
        ("consent.grant", "admin", "marketing on email"),
        ("consent.read", "admin", "cli: consents"),
    ]
