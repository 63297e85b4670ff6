"""A customer's export and erasure, and retention, in the real hub (real SQLite, a tracker store
written by Rasa's own SQLTrackerStore, real files on disk) with Rasa down."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.app import PROJECT_ROOT, HubServices, Settings, create_app
from bot.app import app as cli
from bot.app._container import order_service
from bot.app._hub import background_jobs
from bot.recommend import Event
from bot.storage import utcnow
from channels.media import render_text_image, sniff_file, synthesize_speech
from tests.conftest import query_hub_db
from tests.launch import free_port

KEY = "k" * 32
ADMIN = "a" * 32
API = {"Authorization": f"Bearer {KEY}"}
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
CUSTOMER = "customer-42"
OTHER = "customer-7"
QUESTION = "Do you sell gift cards? My phone is 13812345678"
RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"
# Rasa's own tracker store writes the events, so the hub deletes from the schema Rasa really has.
WRITE_TRACKERS = """
import asyncio, json, os, sys
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=sys.argv[1])
for sender_id, texts, timestamp in json.loads(sys.argv[2]):
    tracker = DialogueStateTracker(sender_id, None)
    for text in texts:
        tracker.update(UserUttered(text, timestamp=timestamp))
        tracker.update(BotUttered("ok", timestamp=timestamp))
    asyncio.run(store.save(tracker))
"""


def write_trackers(settings: Settings, trackers: list[tuple[str, list[str], float | None]]) -> Path:
    path = settings.var_dir / "rasa" / "tracker.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(RASA_PYTHON), "-c", WRITE_TRACKERS, str(path), json.dumps(trackers)],
        check=True,
        env={"RASA_TELEMETRY_ENABLED": "false", "PATH": "/usr/bin:/bin"},
        capture_output=True,
    )
    return path


def tracker_rows(path: Path, sender_id: str) -> list[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT data FROM events WHERE sender_id = ?", (sender_id,))
        return [data for (data,) in rows]


def make_settings(var_dir: Path, cache: Path, **overrides: Any) -> Settings:
    nobody = free_port()  # Rasa and the action server are down
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=var_dir,
        rasa_port=nobody,
        actions_port=nobody,
        embedding_cache=cache,
        **{"api_key": KEY, "admin_token": ADMIN, **overrides},
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("media")
    synthesize_speech("Where is my order?", "en", folder / "voice.wav")
    render_text_image(["订单号：YX2611010001", "订单状态：已发货"], folder / "order.png")
    return folder


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embeddings") / "embeddings.sqlite"


@pytest.fixture
def settings(tmp_path: Path, cache: Path) -> Settings:
    return make_settings(tmp_path, cache)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@dataclass(frozen=True)
class Customer:
    conversation_id: str
    other_conversation_id: str
    media_ids: tuple[str, ...]
    media_bytes: dict[str, bytes]
    ticket: str
    tracker: Path


def services(client: TestClient) -> HubServices:
    return client.app.state.services  # type: ignore[attr-defined,no-any-return]


def run(client: TestClient, work: Any) -> Any:
    return client.portal.call(work)  # type: ignore[union-attr]


def say(client: TestClient, sender: str, text: str) -> str:
    """A customer message; with Rasa down it is kept (503) in the sender's conversation."""
    response = client.post("/api/messages", json={"sender": sender, "text": text}, headers=API)
    assert response.status_code == 503, response.text
    found = run(client, partial(services(client).conversations.find, "rest", sender))
    assert found is not None
    return str(found)


def unanswered(client: TestClient, conversation_id: str) -> None:
    """The bot's reply saying the knowledge base had no answer (what Rasa's action sends)."""
    payload = {"custom": {"knowledge": {"abstained": True}}}
    post = services(client).conversations.post
    run(
        client,
        partial(post, conversation_id, "Sorry, I do not know.", author="bot", payload=payload),
    )


def keep(client: TestClient, source: Path, text: str) -> str:
    """A kept original with its text, as the media intake keeps it."""
    store = services(client).media.store
    spool = store.incoming()
    spool.write_bytes(source.read_bytes())
    media = sniff_file(spool, filename=source.name)
    kept = run(client, partial(store.keep, spool, channel="rest", sender=CUSTOMER, media=media))
    run(client, partial(store.settle, kept, status="accepted", text=text, language="en"))
    return str(kept.public_id)


@pytest.fixture
def customer(client: TestClient, settings: Settings, files: Path) -> Customer:
    hub = services(client)
    conversation_id = say(client, CUSTOMER, QUESTION)
    unanswered(client, conversation_id)
    say(client, CUSTOMER, "This is terrible, the parcel is broken!")
    other_id = say(client, OTHER, "Do you ship to Hong Kong?")
    unanswered(client, other_id)
    voice = keep(client, files / "voice.wav", "Where is my order?")
    image = keep(client, files / "order.png", "订单号：YX2611010001 订单状态：已发货")
    ticket = client.post(
        "/api/tickets",
        json={
            "customer_id": CUSTOMER,
            "subject": "Broken parcel",
            "description": "The parcel came broken; call me on 13812345678",
            "category": "product",
            "language": "en",
        },
        headers=API,
    )
    assert ticket.status_code == 201, ticket.text
    agent = run(client, partial(hub.agents.create, "lead", "a-long-password", role="supervisor"))
    handoff = run(
        client,
        partial(hub.handoffs.request, conversation_id, "angry", language="en", skill="general"),
    )
    run(client, partial(hub.handoffs.add_note, agent, handoff.handoff.id, "Offered a refund"))
    run(client, partial(hub.consents.grant, CUSTOMER, "marketing", "rest"))
    tracker = write_trackers(
        settings,
        [(conversation_id, [QUESTION], None), (other_id, ["Do you ship to Hong Kong?"], None)],
    )
    return Customer(
        conversation_id,
        other_id,
        (voice, image),
        {voice: (files / "voice.wav").read_bytes(), image: (files / "order.png").read_bytes()},
        ticket.json()["number"],
        tracker,
    )


def exported(client: TestClient, sender: str = CUSTOMER) -> tuple[dict[str, Any], dict[str, bytes]]:
    response = client.get(f"/admin/privacy/customers/rest/{sender}/export", headers=ADMIN_AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        data = json.loads(archive.read("data.json"))
        media = {n: archive.read(n) for n in archive.namelist() if n.startswith("media/")}
    return data, media


def gap_questions(client: TestClient) -> list[str]:
    response = client.get("/admin/knowledge/unanswered", headers=ADMIN_AUTH)
    assert response.status_code == 200, response.text
    return [q["question"] for q in response.json()["questions"]]


def test_an_export_holds_everything_about_the_customer(
    client: TestClient, customer: Customer
) -> None:
    data, media = exported(client)

    conversation = data["conversation"]
    assert conversation["id"] == customer.conversation_id
    customer_texts = [m["text"] for m in conversation["messages"] if m["direction"] == "in"]
    assert customer_texts == [QUESTION, "This is terrible, the parcel is broken!"]
    assert all(isinstance(m["sentiment"], float) for m in conversation["messages"][::2])
    assert [n["text"] for n in conversation["notes"]] == ["Offered a refund"]
    assert [h["reason"] for h in conversation["handoffs"]] == ["angry"]
    assert [e["text"] for e in data["dialogue_events"] if e["event"] == "user"] == [QUESTION]

    assert [m["id"] for m in data["media"]] == list(customer.media_ids)
    assert data["media"][0]["extracted_text"] == "Where is my order?"
    assert media == {
        f"media/{media_id}.{'wav' if i == 0 else 'png'}": customer.media_bytes[media_id]
        for i, media_id in enumerate(customer.media_ids)
    }
    [ticket] = data["tickets"]
    assert ticket["ticket"]["number"] == customer.ticket
    assert ticket["ticket"]["description"] == "The parcel came broken; call me on 13812345678"
    assert [(c["purpose"], c["granted"]) for c in data["consents"]] == [("marketing", True)]
    assert [r["action"] for r in data["audit"]] == ["privacy.export", "consent.grant"]
    # Nobody else's data is in it.
    assert "Hong Kong" not in json.dumps(data)


def test_erasure_leaves_only_the_audit_trail(
    client: TestClient, customer: Customer, settings: Settings
) -> None:
    assert QUESTION.replace("13812345678", "[phone]") in gap_questions(client)
    files = [
        settings.var_dir / "media" / p
        for (p,) in query_hub_db(
            settings.var_dir, "SELECT path FROM attachments WHERE sender = ?", (CUSTOMER,)
        )
    ]
    assert len(files) == 2
    assert all(f.is_file() for f in files)

    response = client.request(
        "DELETE",
        f"/admin/privacy/customers/rest/{CUSTOMER}",
        json={"reason": "customer request by e-mail"},
        headers=ADMIN_AUTH,
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert {k: v for k, v in report.items() if k != "audit_id"} == {
        "customer": CUSTOMER,
        "conversations": {
            "conversations": 1,
            "messages": 3,
            "handoffs": 1,
            "notes": 1,
            "summaries": 0,
            # What the caches kept of the customer's texts (test_privacy_caches fills them).
            "cached_answers": 0,
            "query_vectors": 0,
            "insights_vectors": 0,
            "emotion_vectors": 2,  # the hub's emotion model read the customer's two messages
        },
        "media": {"attachments": 2, "files": 2},
        "tickets_anonymised": 1,
        "tracker_events": 2,
        "consents_revoked": 1,
        # The other modules hold nothing about this customer, and say so.
        "others": {
            "recommendations": {"events": 0, "profiles": 0},
            "marketing": {
                "contacts": 0,
                "sends": 0,
                "assignments": 0,
                "conversions": 0,
                "campaign_conversions": 0,
                "campaign_recipients": 0,
                "campaign_links_bought_by": 0,
            },
            "app_messages": {"messages": 0},
            "orders": {"kept": 0},
            "churn": {"scores": 0},
            "retention_actions": {"decisions": 0},
            "intent_corrections": {"corrections": 0},
            "identity_links": {"links": 0, "person_events": 0, "person_profiles": 0},
            "webchat_identified": {
                "conversations": 0,
                "messages": 0,
                "handoffs": 0,
                "notes": 0,
                "summaries": 0,
                "tracker_events": 0,
                "files": 0,
                "sessions": 0,
            },
        },
    }

    assert not any(f.exists() for f in files)
    assert tracker_rows(customer.tracker, customer.conversation_id) == []
    assert len(tracker_rows(customer.tracker, customer.other_conversation_id)) == 2
    questions = gap_questions(client)
    assert not any("gift cards" in q for q in questions)
    assert any("Hong Kong" in q for q in questions)  # the other customer's stays
    # The ticket stays for the books, without anything of the customer.
    [row] = query_hub_db(
        settings.var_dir,
        "SELECT number, customer_id, subject, description, category FROM tickets",
    )
    assert tuple(row) == (customer.ticket, "[erased]", "[erased]", "[erased]", "product")
    hub_db = (settings.var_dir / "hub.db").read_bytes()
    assert b"13812345678" not in hub_db
    assert b"gift cards" not in hub_db

    data, media = exported(client)
    assert (data["conversation"], data["dialogue_events"], data["media"], data["tickets"]) == (
        None,
        [],
        [],
        [],
    )
    assert media == {}
    # Consents stay as the record of what was agreed, revoked by the erasure.
    assert [(c["purpose"], c["granted"]) for c in data["consents"]] == [
        ("marketing", True),
        ("marketing", False),
    ]
    actions = [r["action"] for r in data["audit"]]  # newest first
    assert actions == ["privacy.export", "privacy.erase", "consent.revoke", "consent.grant"]
    erasure = next(r for r in data["audit"] if r["action"] == "privacy.erase")
    assert erasure["actor_kind"] == "admin"
    assert erasure["reason"].startswith("customer request by e-mail; conversations=1 messages=3")
    assert "gift" not in json.dumps(data["audit"])

    again = client.request(
        "DELETE", f"/admin/privacy/customers/rest/{CUSTOMER}", headers=ADMIN_AUTH
    )
    assert again.status_code == 200
    assert again.json()["conversations"]["messages"] == 0
    assert again.json()["media"] == {"attachments": 0, "files": 0}
    assert again.json()["tickets_anonymised"] == 0


def test_a_customer_asks_through_the_shop(client: TestClient, customer: Customer) -> None:
    mine = client.get("/api/privacy/export", params={"sender": CUSTOMER}, headers=API)
    assert mine.status_code == 200
    with zipfile.ZipFile(io.BytesIO(mine.content)) as archive:
        assert json.loads(archive.read("data.json"))["conversation"]["id"] == (
            customer.conversation_id
        )
    erased = client.post("/api/privacy/erase", json={"sender": CUSTOMER}, headers=API)
    assert erased.status_code == 200, erased.text
    assert erased.json()["conversations"]["conversations"] == 1
    audit = client.get(
        "/admin/privacy/audit", params={"customer_id": CUSTOMER}, headers=ADMIN_AUTH
    ).json()["records"]
    assert [(r["action"], r["actor_kind"], r["reason"][:16]) for r in audit[:2]] == [
        ("privacy.erase", "customer", "customer request"),
        ("consent.revoke", "system", "marketing on res"),
    ]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "detail"),
    [
        ("GET", "/api/privacy/export?sender=customer-42", None, 401, "missing or wrong API key"),
        ("POST", "/api/privacy/erase", {"sender": CUSTOMER}, 401, "missing or wrong API key"),
        ("GET", "/admin/privacy/audit", None, 401, "missing or wrong admin token"),
        ("DELETE", "/admin/privacy/customers/rest/customer-42", None, 401, "missing or wrong"),
    ],
)
def test_without_credentials_nothing_is_read_or_erased(
    client: TestClient,
    customer: Customer,
    method: str,
    path: str,
    body: dict[str, str] | None,
    status: int,
    detail: str,
) -> None:
    response = client.request(method, path, json=body, headers={"Authorization": "Bearer wrong"})
    assert response.status_code == status
    assert response.json()["detail"].startswith(detail)
    assert len(exported(client)[0]["conversation"]["messages"]) == 3


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        (
            "/admin/privacy/customers/REST/customer-42",
            None,
            "channel must be 1 to 32 lower-case letters, digits, '-' or '_', not 'REST'",
        ),
        (
            "/admin/privacy/customers/rest/customer-42",
            {"reason": "she called from 13812345678"},
            "the audit record must hold no personal data beyond the customer id; found phone",
        ),
        (
            "/admin/privacy/customers/rest/customer-42",
            {"reason": "x", "extra": 1},
            "unknown field 'extra'",
        ),
    ],
)
def test_a_bad_erasure_request_says_why_and_erases_nothing(
    client: TestClient, customer: Customer, path: str, body: dict[str, Any] | None, detail: str
) -> None:
    response = client.request("DELETE", path, json=body, headers=ADMIN_AUTH)
    assert (response.status_code, response.json()["detail"]) == (422, detail)
    data, media = exported(client)
    assert len(data["conversation"]["messages"]) == 3
    assert len(media) == 2


def test_the_shop_api_is_closed_without_an_api_key(tmp_path: Path, cache: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, cache, api_key=None))) as client:
        response = client.post("/api/privacy/erase", json={"sender": CUSTOMER})
    assert response.status_code == 403
    assert "BOT_API_KEY" in response.json()["detail"]


def age(settings: Settings, days: float) -> None:
    """Make everything stored so far ``days`` old."""
    then = (utcnow() - timedelta(days=days)).isoformat(sep=" ")
    with sqlite3.connect(settings.var_dir / "hub.db") as connection:
        connection.execute("UPDATE messages SET created_at = ?", (then,))
        connection.execute("UPDATE conversations SET updated_at = ?", (then,))
        connection.execute("UPDATE attachments SET expires_at = ?", (then,))
        connection.execute(
            "UPDATE tickets SET status = 'closed', closed_at = ?, created_at = ?", (then, then)
        )


def test_retention_dry_run_then_the_job(
    client: TestClient, customer: Customer, settings: Settings
) -> None:
    age(settings, 400)
    old = (utcnow() - timedelta(days=400)).timestamp()
    write_trackers(settings, [("old-conversation", ["an old question"], old)])

    result = CliRunner().invoke(cli, ["privacy", "retention", "--dry-run"], env=_cli_env(settings))
    assert result.exit_code == 0, result.output
    dry = json.loads(result.stdout)
    counts = {kind: entry["count"] for kind, entry in dry["kinds"].items()}
    # Closed tickets are kept 3 years: the aged ticket is not due yet.
    assert counts == {"messages": 5, "media": 2, "tracker_events": 2, "closed_tickets": 0}
    # The customer's conversation waits for an agent: it stays, emptied; the other one goes.
    assert dry["kinds"]["messages"]["detail"] == {"messages": 5, "conversations": 1}
    assert len(exported(client)[0]["conversation"]["messages"]) == 3  # nothing went

    [job] = [j for j in background_jobs(services(client)) if j.name == "privacy-retention"]
    done = run(client, job.run)
    assert {kind: entry["count"] for kind, entry in done["kinds"].items()} == counts
    assert exported(client)[0]["conversation"]["messages"] == []
    assert exported(client, OTHER)[0]["conversation"] is None
    assert tracker_rows(customer.tracker, "old-conversation") == []
    assert len(tracker_rows(customer.tracker, customer.conversation_id)) == 2  # recent: kept
    again = run(client, partial(services(client).retention.run, dry_run=True))
    assert {k: e["count"] for k, e in again["kinds"].items()} == dict.fromkeys(counts, 0)


def _cli_env(settings: Settings) -> dict[str, str]:
    return {
        "BOT_VAR_DIR": str(settings.var_dir),
        "BOT_EMBEDDING_CACHE": str(settings.embedding_cache),
    }


def test_the_cli_exports_erases_and_lists_the_audit_log(
    client: TestClient, customer: Customer, settings: Settings, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = _cli_env(settings)
    out = tmp_path / "export.zip"
    result = runner.invoke(cli, ["privacy", "export", "rest", CUSTOMER, "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        assert len([n for n in archive.namelist() if n.startswith("media/")]) == 2
    refused = runner.invoke(cli, ["privacy", "erase", "Rest", CUSTOMER, "--yes"], env=env)
    assert refused.exit_code == 2
    assert "channel must be 1 to 32 lower-case letters" in refused.stderr
    result = runner.invoke(
        cli, ["privacy", "erase", "rest", CUSTOMER, "--yes", "--reason", "court order"], env=env
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["media"] == {"attachments": 2, "files": 2}
    result = runner.invoke(cli, ["privacy", "audit", "--customer", CUSTOMER], env=env)
    records = json.loads(result.stdout)["records"]
    assert [(r["action"], r["actor_id"]) for r in records[:1]] == [("privacy.erase", "cli")]


def test_a_messaging_app_customers_replies_are_exported_and_erased(client: TestClient) -> None:
    """The outbox keeps what was sent to a WeChat customer: it is in their export, and their
    erasure deletes it, leaving other customers' replies."""
    outbox = client.app.state.services.outbox  # type: ignore[attr-defined]

    async def store() -> None:
        for sender, source in (
            ("openid-erased", "m-1"),
            ("openid-erased", "m-2"),
            ("openid-kept", "m-3"),
        ):
            body = {"msgtype": "text", "text": {"content": f"reply {source}"}}
            await outbox.enqueue("wechat", sender, body, source_id=source)

    client.portal.call(store)  # type: ignore[union-attr]
    path = "/admin/privacy/customers/wechat/openid-erased"
    exported = client.get(f"{path}/export", headers=ADMIN_AUTH)
    assert exported.status_code == 200, exported.text
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        data = json.loads(archive.read("data.json"))
    assert sorted(m["source_id"] for m in data["app_messages"]["messages"]) == ["m-1", "m-2"]
    erased = client.request("DELETE", path, headers=ADMIN_AUTH, json={"reason": "test"})
    assert erased.status_code == 200, erased.text
    assert erased.json()["others"]["app_messages"] == {"messages": 2}
    left = client.portal.call(outbox.messages, "wechat")  # type: ignore[union-attr]
    assert [(m.recipient, m.source_id) for m in left] == [("openid-kept", "m-3")]


def test_a_shop_customers_orders_are_exported_and_kept_for_the_books(
    client: TestClient, settings: Settings
) -> None:
    """The shop's orders of a customer (address, recipient, phone, items, history) are in their
    export; an erasure keeps them (the shop's transaction records) and says how many."""
    store = order_service(settings)
    orders = store.orders_of("customer-001")
    assert orders, "the demo shop has orders of customer-001"
    path = "/admin/privacy/customers/rest/customer-001"
    exported = client.get(f"{path}/export", headers=ADMIN_AUTH)
    assert exported.status_code == 200, exported.text
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        data = json.loads(archive.read("data.json"))
    listed = data["orders"]["orders"]
    assert [o["id"] for o in listed] == [o.id for o in orders]
    first = listed[0]
    assert (first["phone"], first["address"], first["customer_id"]) == (
        orders[0].phone,
        orders[0].address,
        "customer-001",
    )
    assert first["items"]
    assert first["history"] == [list(e) for e in store.history(first["id"])]
    # Another customer's export holds none of them.
    other = client.get("/admin/privacy/customers/rest/customer-002/export", headers=ADMIN_AUTH)
    with zipfile.ZipFile(io.BytesIO(other.content)) as archive:
        theirs = json.loads(archive.read("data.json"))["orders"]["orders"]
    assert not {o["id"] for o in theirs} & {o.id for o in orders}
    erased = client.request("DELETE", path, headers=ADMIN_AUTH, json={"reason": "test"})
    assert erased.status_code == 200, erased.text
    assert erased.json()["others"]["orders"] == {"kept": len(orders)}
    assert [o.id for o in store.orders_of("customer-001")] == [o.id for o in orders]


def test_a_customers_recommendation_history_is_exported_and_erased(client: TestClient) -> None:
    """Behaviour is personal data: the customer's events and profile are in their export and
    gone after their erasure; another customer's stay."""
    recommend = client.app.state.services.recommendations  # type: ignore[attr-defined]
    at = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    events = [
        Event("shopper-erased", "EL-001", "view", at, channel="rest"),
        Event("shopper-erased", "EL-003", "purchase", at, channel="rest"),
        Event("shopper-kept", "EL-002", "view", at, channel="rest"),
    ]

    async def record() -> None:
        for event in events:
            await recommend.record_event(event)

    client.portal.call(record)  # type: ignore[union-attr]
    path = "/admin/privacy/customers/rest/shopper-erased"
    exported = client.get(f"{path}/export", headers=ADMIN_AUTH)
    assert exported.status_code == 200, exported.text
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        data = json.loads(archive.read("data.json"))
    history = data["recommendations"]
    assert [(e["item_id"], e["kind"]) for e in history["events"]] == [
        ("EL-001", "view"),
        ("EL-003", "purchase"),
    ]
    assert history["profile"]["user_id"] == "shopper-erased"
    erased = client.request("DELETE", path, headers=ADMIN_AUTH, json={"reason": "test"})
    assert erased.status_code == 200, erased.text
    assert erased.json()["others"]["recommendations"] == {"events": 2, "profiles": 1}
    assert client.portal.call(recommend.events_of, "shopper-erased") == []  # type: ignore[union-attr]
    assert len(client.portal.call(recommend.events_of, "shopper-kept")) == 1  # type: ignore[union-attr]
