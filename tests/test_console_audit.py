"""Agents' reads of a customer's data through the console are audited (PIPL art. 54): on the
real hub (real SQLite, the admin API and the CLI reading the log back; uvicorn and a real
socket.io client for the live socket), Rasa down."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from bot.app import HubServices, Settings, create_app
from bot.app import app as cli
from bot.insights import store_message_intent
from bot.storage import Conversation, Message
from bot.tickets import ERASED, TicketDraft
from channels.media import render_text_image, sniff_file
from tests.launch import free_port
from tests.test_console_api import PASSWORD, login
from tests.test_console_hardening import console
from tests.test_console_hardening import live_hub as live_hub  # the shared fixture

ADMIN = "a" * 32
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
SECRET = "my gift card number is 13812345678"  # never in an audit record


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    nobody = free_port()
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=tmp_path,
        rasa_port=nobody,
        actions_port=nobody,
        business_hours="00:00-24:00",
        admin_token=ADMIN,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        agents = services(test_client).agents
        run = test_client.portal.call  # type: ignore[union-attr]
        run(lambda: agents.create("olga", PASSWORD, skills=("orders",)))
        run(lambda: agents.create("sam", PASSWORD, role="supervisor"))
        yield test_client


def services(client: TestClient) -> HubServices:
    return client.app.state.services  # type: ignore[attr-defined,no-any-return]


def agent_id(client: TestClient, username: str) -> str:
    agents = client.portal.call(services(client).agents.all)  # type: ignore[union-attr]
    return str(next(a.id for a in agents if a.username == username))


def queued(client: TestClient, channel: str, sender: str) -> tuple[str, int]:
    """A conversation holding the customer's secret, queued for an agent of orders."""
    hub = services(client)
    public_id = uuid.uuid4().hex

    def write(session: Session) -> None:
        conversation = Conversation(
            public_id=public_id, channel=channel, sender=sender, language="en", mode="bot"
        )
        conversation.messages.append(Message(direction="in", author="customer", text=SECRET))
        session.add(conversation)

    async def make() -> int:
        await hub.database.session(write)
        ticket = await hub.handoffs.request(
            public_id, "customer_request", language="en", skill="orders"
        )
        return ticket.handoff.id

    return public_id, client.portal.call(make)  # type: ignore[union-attr]


def kept_image(client: TestClient, channel: str, sender: str, folder: Path) -> str:
    image = render_text_image(["订单 YX2611010001"], folder / f"{uuid.uuid4().hex}.png")
    store = services(client).media.store
    kept = client.portal.call(  # type: ignore[union-attr]
        partial(store.keep, image, channel=channel, sender=sender, media=sniff_file(image))
    )
    return str(kept.public_id)


def audit(client: TestClient, **filters: str) -> list[tuple[str, str, str, str, str]]:
    """The admin API's audit records, newest first."""
    response = client.get("/admin/privacy/audit", params=filters, headers=ADMIN_AUTH)
    assert response.status_code == 200, response.text
    return [
        (r["actor_kind"], r["actor_id"], r["action"], r["customer_id"], r["reason"])
        for r in response.json()["records"]
    ]


def test_opening_a_conversation_its_context_and_its_media_is_audited_once_per_window(
    client: TestClient, tmp_path: Path
) -> None:
    sender = "visitor-1"
    key = f"webchat:{sender}"  # an anonymous web-chat visitor: the privacy module's key
    conversation_id, handoff_id = queued(client, "webchat", sender)
    image = kept_image(client, "webchat", sender, tmp_path)
    olga, sam = agent_id(client, "olga"), agent_id(client, "sam")

    login(client, "olga")
    assert client.post(f"/console/api/handoffs/{handoff_id}/accept").status_code == 200
    assert audit(client, customer_id=key) == []  # the queue and the accept show no messages
    for _ in range(3):  # the console reloads the panel on every change
        panel = client.get(f"/console/api/handoffs/{handoff_id}")
        assert panel.status_code == 200
        assert SECRET in [m["text"] for m in panel.json()["transcript"]]
    assert client.get(f"/console/media/{image}").status_code == 200
    login(client, "sam")
    assert client.get(f"/console/api/handoffs/{handoff_id}").status_code == 200

    opened = f"console: opened conversation {conversation_id}"
    context = f"console: context of conversation {conversation_id}"
    assert audit(client, customer_id=key) == [
        ("agent", sam, "customer.read", key, context),
        ("agent", sam, "conversation.read", key, opened),
        ("agent", olga, "media.read", key, f"console: opened file {image}"),
        ("agent", olga, "customer.read", key, context),
        ("agent", olga, "conversation.read", key, opened),
    ]
    response = client.get("/admin/privacy/audit", headers=ADMIN_AUTH)
    assert "13812345678" not in response.text
    assert "gift card" not in response.text


def test_each_read_is_recorded_under_the_customer_whose_data_it_is(
    client: TestClient, tmp_path: Path
) -> None:
    """An identified web-chat customer is named by the shop's id, as their export names them;
    another customer's reads stay out of their log."""
    first, first_handoff = queued(client, "webchat", "visitor-2")
    second, second_handoff = queued(client, "webchat", "customer:c-77")
    image = kept_image(client, "webchat", "customer:c-77", tmp_path)
    olga = agent_id(client, "olga")
    login(client, "olga")
    assert client.get(f"/console/api/handoffs/{second_handoff}").status_code == 200
    assert client.get(f"/console/media/{image}").status_code == 200

    assert audit(client, customer_id="c-77") == [
        ("agent", olga, "media.read", "c-77", f"console: opened file {image}"),
        ("agent", olga, "customer.read", "c-77", f"console: context of conversation {second}"),
        ("agent", olga, "conversation.read", "c-77", f"console: opened conversation {second}"),
    ]
    assert audit(client, customer_id="webchat:visitor-2") == []
    assert client.get(f"/console/api/handoffs/{first_handoff}").status_code == 200
    assert [r[2:] for r in audit(client, customer_id="webchat:visitor-2")] == [
        ("customer.read", "webchat:visitor-2", f"console: context of conversation {first}"),
        ("conversation.read", "webchat:visitor-2", f"console: opened conversation {first}"),
    ]
    assert len(audit(client, customer_id="c-77")) == 3


def test_the_reads_are_in_the_customers_export_and_survive_their_erasure(
    client: TestClient,
) -> None:
    conversation_id, handoff_id = queued(client, "telegram", "5550123")
    login(client, "olga")
    assert client.get(f"/console/api/handoffs/{handoff_id}").status_code == 200
    path = "/admin/privacy/customers/telegram/5550123"

    def exported() -> dict[str, Any]:
        response = client.get(f"{path}/export", headers=ADMIN_AUTH)
        assert response.status_code == 200, response.text
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            data: dict[str, Any] = json.loads(archive.read("data.json"))
            return data

    data = exported()
    assert data["customer"]["id"] == "telegram:5550123"
    assert [(r["actor_kind"], r["action"], r["reason"]) for r in data["audit"]] == [
        ("admin", "privacy.export", ""),
        ("agent", "customer.read", f"console: context of conversation {conversation_id}"),
        ("agent", "conversation.read", f"console: opened conversation {conversation_id}"),
    ]
    erased = client.request("DELETE", path, json={"reason": "customer request"}, headers=ADMIN_AUTH)
    assert erased.status_code == 200, erased.text
    assert erased.json()["conversations"]["messages"] == 1
    after = exported()
    assert after["conversation"] is None
    assert [r["action"] for r in after["audit"]] == [
        "privacy.export",
        "privacy.erase",
        "privacy.export",
        "customer.read",
        "conversation.read",
    ]


def test_a_tickets_conversation_and_the_ticket_itself_are_audited(client: TestClient) -> None:
    conversation_id, handoff_id = queued(client, "webchat", "customer:c-9")
    login(client, "olga")
    olga = agent_id(client, "olga")
    assert client.post(f"/console/api/handoffs/{handoff_id}/accept").status_code == 200
    opened = client.post(f"/console/api/handoffs/{handoff_id}/ticket")
    assert opened.status_code == 200, opened.text
    number = opened.json()["number"]
    before = audit(client, customer_id="c-9")

    transcript = client.get(f"/console/api/tickets/{number}/conversation")
    assert transcript.status_code == 200, transcript.text
    assert client.get(f"/api/tickets/{number}").status_code == 200  # the tickets page's read
    assert audit(client, customer_id="c-9")[: -len(before) or None] == [
        ("agent", olga, "ticket.read", "c-9", f"console: opened ticket {number}"),
        (
            "agent",
            olga,
            "conversation.read",
            "c-9",
            f"console: ticket {number}: conversation {conversation_id}",
        ),
    ]


def test_the_conversations_of_the_same_person_in_other_apps_are_audited_under_theirs(
    client: TestClient,
) -> None:
    identities = services(client).identities
    assert identities is not None
    telegram, _ = queued(client, "telegram", "111")
    feishu, handoff_id = queued(client, "feishu", "ou_222")
    phone_hash = "ab" * 32
    for channel, sender in (("telegram", "111"), ("feishu", "ou_222")):
        client.portal.call(  # type: ignore[union-attr]
            partial(identities.link, channel, sender, phone_hash, source=channel)
        )
    login(client, "olga")
    panel = client.get(f"/console/api/handoffs/{handoff_id}").json()
    assert [c["conversation_id"] for c in panel["linked_conversations"]] == [telegram]
    assert [r[2:] for r in audit(client, customer_id="telegram:111")] == [
        (
            "conversation.read",
            "telegram:111",
            f"console: linked to conversation {feishu}: conversation {telegram}",
        ),
    ]
    assert [r[2] for r in audit(client, customer_id="feishu:ou_222")] == [
        "customer.read",
        "conversation.read",
    ]


def test_admins_list_the_reads_by_actor_and_action_in_the_api_and_the_cli(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    _, handoff_id = queued(client, "webchat", "visitor-3")
    image = kept_image(client, "webchat", "visitor-3", tmp_path)
    olga = agent_id(client, "olga")
    login(client, "olga")
    client.get(f"/console/api/handoffs/{handoff_id}")
    client.get(f"/console/media/{image}")
    consents = client.get("/admin/privacy/customers/webchat/visitor-3/consents", headers=ADMIN_AUTH)
    assert consents.status_code == 200

    media = ("agent", olga, "media.read", "webchat:visitor-3", f"console: opened file {image}")
    assert audit(client, action="media.read") == [media]
    assert [r[2] for r in audit(client, actor_kind="agent", actor_id=olga)] == [
        "media.read",
        "customer.read",
        "conversation.read",
    ]
    assert audit(client, actor_kind="admin") == [
        ("admin", "admin-api", "consent.read", "webchat:visitor-3", "admin api: consents"),
    ]
    bad = client.get("/admin/privacy/audit", params={"actor_kind": "robot"}, headers=ADMIN_AUTH)
    assert bad.status_code == 422
    assert "actor_kind must be one of agent, admin, system, customer" in bad.text

    env = {"BOT_VAR_DIR": str(settings.var_dir), "BOT_EMBEDDING_CACHE": str(tmp_path / "e.db")}
    result = CliRunner().invoke(
        cli, ["privacy", "audit", "--action", "media.read", "--actor-id", olga], env=env
    )
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.stdout)["records"]
    assert (
        tuple(record[k] for k in ("actor_kind", "actor_id", "action", "customer_id")) == (media[:4])
    )
    assert record["reason"] == media[4]


async def test_following_a_conversation_live_is_audited(live_hub: Any) -> None:
    hub: HubServices = live_hub.services
    public_id = uuid.uuid4().hex
    await hub.database.session(
        lambda s: s.add(
            Conversation(
                public_id=public_id,
                channel="webchat",
                sender="visitor-4",
                language="zh",
                mode="bot",
            )
        )
    )
    ticket = await hub.handoffs.request(
        public_id, "customer_request", language="zh", skill="general"
    )
    async with console(live_hub.url, "sam") as sam:
        refused = await sam.socket.call("watch", {"handoff_id": 99999}, namespace="/console")
        assert refused["ok"] is False
        assert await hub.audit.list(customer_id="webchat:visitor-4") == []
        watched = await sam.socket.call(
            "watch", {"handoff_id": ticket.handoff.id}, namespace="/console"
        )
        assert watched == {"ok": True, "conversation_id": public_id}
    sam_id = next(a.id for a in await hub.agents.all() if a.username == "sam")
    records = await hub.audit.list(customer_id="webchat:visitor-4")
    assert [(r.actor_kind, r.actor_id, r.action, r.reason) for r in records] == [
        (
            "agent",
            str(sam_id),
            "conversation.read",
            f"console: watched live: conversation {public_id}",
        )
    ]


def listed(client: TestClient, action: str) -> list[tuple[str, str, str, str, str]]:
    return sorted(audit(client, action=action))


def test_the_queue_audits_each_customer_it_previews_once_per_window(client: TestClient) -> None:
    """The queue shows who waits and what they last wrote: a line of each customer's data."""
    queued(client, "webchat", "visitor-1")
    queued(client, "webchat", "customer:c-9")
    login(client, "olga")
    olga = agent_id(client, "olga")
    for _ in range(3):  # the console reloads the queue on every change
        shown = client.get("/console/api/queue")
        assert shown.status_code == 200
        assert [item["last_text"] for item in shown.json()] == [SECRET, SECRET]
    assert listed(client, "conversation.listed") == [
        ("agent", olga, "conversation.listed", "c-9", "console: queue"),
        ("agent", olga, "conversation.listed", "webchat:visitor-1", "console: queue"),
    ]


def test_ticket_lists_and_their_csv_audit_each_customer_on_them(client: TestClient) -> None:
    hub = services(client)
    run = client.portal.call  # type: ignore[union-attr]
    for customer in ("c-1", "c-2", "c-1"):
        draft = TicketDraft(customer_id=customer, subject="Where is my parcel?", description="-")
        run(partial(hub.tickets.create, draft, actor="api"))
    gone = TicketDraft(customer_id="c-3", subject="Where is my parcel?", description="-")
    erased = run(partial(hub.tickets.create, gone, actor="api"))[0]
    run(partial(hub.tickets.erase_customer, "c-3", "admin-api"))
    login(client, "sam")
    sam = agent_id(client, "sam")

    page = client.get("/api/tickets")
    assert page.status_code == 200, page.text
    assert {t["customer_id"] for t in page.json()["items"]} == {"c-1", "c-2", ERASED}
    exported = client.get("/api/tickets/export.csv")
    assert exported.status_code == 200
    assert exported.text.count("Where is my parcel?") == 3
    assert listed(client, "ticket.listed") == [
        ("agent", sam, "ticket.listed", "c-1", "console: ticket list"),
        ("agent", sam, "ticket.listed", "c-1", "console: tickets CSV"),
        ("agent", sam, "ticket.listed", "c-2", "console: ticket list"),
        ("agent", sam, "ticket.listed", "c-2", "console: tickets CSV"),
    ]  # the anonymised ticket names nobody
    assert erased.number in page.text


def test_the_corrections_lists_audit_the_customers_whose_messages_they_show(
    client: TestClient,
) -> None:
    conversation_id, _handoff = queued(client, "webchat", "visitor-5")
    hub = services(client)

    def unsure(session: Session) -> None:
        message = session.scalars(select(Message).where(Message.text == SECRET)).one()
        store_message_intent(session.connection(), message.id, "order_status", 0.31)

    client.portal.call(hub.database.session, unsure)  # type: ignore[union-attr]
    login(client, "sam")
    sam = agent_id(client, "sam")
    shown = client.get("/console/api/corrections/unsure")
    assert shown.status_code == 200, shown.text
    assert [m["conversation_id"] for m in shown.json()["messages"]] == [conversation_id]
    assert listed(client, "conversation.listed") == [
        ("agent", sam, "conversation.listed", "webchat:visitor-5", "console: unsure messages"),
    ]
