"""Intent corrections: the console API on a real hub and SQLite (Rasa is down, which the console
tolerates), erasure, and the training file ``python -m bot train`` adds to the TRAIN split."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.app import Settings, app, create_app
from bot.app._cli_nlu import CORRECTIONS_FILE, known_keys, write_corrections
from bot.corrections import (
    Correction,
    CorrectionReviewed,
    CorrectionService,
    TrainingExample,
    training_yaml,
)
from bot.dialogue import DEV_DATA, TRAINING_DATA, domain_intents, load_examples, model_path
from bot.handoff import AgentDirectory
from bot.insights import store_message_intent
from bot.privacy import Subject
from bot.storage import Conversation, Message
from tests.conftest import query_hub_db
from tests.launch import free_port

PASSWORD = "correct horse battery"
HOSTILE = "<script>alert(1)</script> 我的手机是13812345678(家里)，订单怎么还没到"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    nobody = free_port()
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=tmp_path,
        rasa_port=nobody,
        actions_port=nobody,
        business_hours="00:00-24:00",
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app) as test_client:
        agents: AgentDirectory = app.state.services.agents
        run = test_client.portal.call  # type: ignore[union-attr]
        run(lambda: agents.create("olga", PASSWORD, skills=("orders",)))
        run(lambda: agents.create("rita", PASSWORD, skills=("refunds",)))
        run(lambda: agents.create("sam", PASSWORD, role="supervisor"))
        yield test_client


def conversation(client: TestClient, texts: list[tuple[str, str, str | None]]) -> dict[str, int]:
    """A webchat conversation queued for the orders team with messages (author, text, the
    intent Rasa gave); the ids of its handoff and of each message by text."""
    hub = client.app.state.services  # type: ignore[attr-defined]
    public_id = uuid.uuid4().hex

    def store(session: object) -> dict[str, int]:
        row = Conversation(
            public_id=public_id, channel="webchat", sender=f"visitor-{public_id[:6]}", mode="bot"
        )
        session.add(row)  # type: ignore[attr-defined]
        ids: dict[str, int] = {}
        for author, text, intent in texts:
            direction = "in" if author == "customer" else "out"
            message = Message(
                conversation=row, direction=direction, author=author, text=text, language="zh"
            )
            session.add(message)  # type: ignore[attr-defined]
            session.flush()  # type: ignore[attr-defined]
            ids[text] = message.id
            if intent is not None:
                store_message_intent(session.connection(), message.id, intent, 0.41)  # type: ignore[attr-defined]
        return ids

    async def make() -> dict[str, int]:
        ids = await hub.database.session(store)
        ticket = await hub.handoffs.request(
            public_id, "customer_request", language="zh", skill="orders"
        )
        return {**ids, "handoff": ticket.handoff.id, "sender": 0}

    made: dict[str, int] = client.portal.call(make)  # type: ignore[union-attr]
    return made


def login(client: TestClient, username: str) -> None:
    response = client.post("/console/api/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    client.headers["X-CSRF-Token"] = response.cookies["console_csrf"]


def test_an_agent_corrects_a_message_and_a_supervisor_accepts_it(
    client: TestClient, settings: Settings
) -> None:
    ids = conversation(
        client,
        [("customer", HOSTILE, "greet"), ("bot", "您好！", None), ("customer", "退货", None)],
    )
    handoff, message = ids["handoff"], ids[HOSTILE]
    url = f"/console/api/handoffs/{handoff}/corrections"
    body = {"message_id": message, "intent": "check_order_status"}
    assert client.post(url, json=body).status_code == 401
    login(client, "olga")
    assert client.post(url, json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    intents = client.get("/console/api/corrections/intents").json()
    assert intents == sorted(domain_intents())
    assert "check_order_status" in intents

    made = client.post(url, json=body)
    assert made.status_code == 200, made.text
    correction = made.json()
    assert (correction["wrong_intent"], correction["right_intent"], correction["agent"]) == (
        "greet",
        "check_order_status",
        "olga",
    )
    # Redacted before it was stored: the phone number never reaches the table.
    assert "13812345678" not in correction["text"]
    assert "[phone]" in correction["text"]
    stored = query_hub_db(settings.var_dir, "SELECT text, status FROM intent_corrections")
    assert [(r["text"], r["status"]) for r in stored] == [(correction["text"], "pending")]

    # The agent changes their mind while it is pending: the same correction, a new intent.
    again = client.post(url, json={"message_id": message, "intent": "complain"}).json()
    assert (again["id"], again["right_intent"]) == (correction["id"], "complain")

    assert client.get("/console/api/corrections").status_code == 403  # agents do not review
    review = f"/console/api/corrections/{correction['id']}/review"
    assert client.post(review, json={"decision": "accept"}).status_code == 403

    login(client, "sam")
    listed = client.get("/console/api/corrections?status=pending").json()
    assert listed["counts"] == {"pending": 1, "accepted": 0, "rejected": 0}
    assert [c["id"] for c in listed["corrections"]] == [correction["id"]]
    accepted = client.post(review, json={"decision": "accept"}).json()
    assert (accepted["status"], accepted["reviewer"]) == ("accepted", "sam")
    replay = client.post(review, json={"decision": "reject"})
    assert replay.status_code == 409
    assert "accepted already" in replay.json()["detail"]
    final = client.post(url, json={"message_id": message, "intent": "thanks"})
    assert final.status_code == 409  # a reviewed correction is final

    # A message with no intent kept (the bot's parse unknown) can be corrected too.
    second = client.post(url, json={"message_id": ids["退货"], "intent": "request_return_refund"})
    assert second.json()["wrong_intent"] is None
    rejected = client.post(
        f"/console/api/corrections/{second.json()['id']}/review", json={"decision": "reject"}
    )
    assert rejected.json()["status"] == "rejected"

    written = write_corrections(settings)
    assert (written.accepted, written.written) == (1, 1)
    assert written.path == settings.var_dir / "nlu" / "corrections" / CORRECTIONS_FILE
    examples = load_examples(written.path)
    assert [(e.intent, e.text) for e in examples] == [
        ("complain", correction["text"].replace("](", "] ("))
    ]
    # The generated folder is read as more TRAIN data, and changes the model's name.
    toolchain = settings.rasa_toolchain
    assert toolchain.data_paths() == (TRAINING_DATA, written.path.parent)
    with_corrections = model_path(toolchain)
    written.path.unlink()
    assert toolchain.data_paths() == (TRAINING_DATA,)
    assert model_path(toolchain) != with_corrections


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"message_id": "bot", "intent": "greet"}, 422, "is not the customer's"),
        ({"message_id": "customer", "intent": "no_such_intent"}, 422, "unknown intent"),
        ({"message_id": "customer", "intent": "greet"}, 422, "already gave"),
        ({"message_id": "elsewhere", "intent": "complain"}, 404, "has no message"),
        ({"message_id": 999999, "intent": "complain"}, 404, "has no message"),
        ({"message_id": 0, "intent": "complain"}, 422, ""),
        ({"message_id": "customer", "intent": "x" * 65}, 422, ""),
        ({"message_id": "customer", "intent": "complain", "extra": 1}, 422, ""),
    ],
)
def test_bad_corrections_are_refused_and_store_nothing(
    client: TestClient, settings: Settings, body: dict[str, object], status: int, detail: str
) -> None:
    ids = conversation(client, [("customer", "你好", "greet"), ("bot", "您好", None)])
    other = conversation(client, [("customer", "在吗", "greet")])
    names = {"bot": ids["您好"], "customer": ids["你好"], "elsewhere": other["在吗"]}
    message_id = body["message_id"]
    sent = {**body, "message_id": names[message_id] if isinstance(message_id, str) else message_id}
    login(client, "olga")
    answer = client.post(f"/console/api/handoffs/{ids['handoff']}/corrections", json=sent)
    assert answer.status_code == status, answer.text
    assert detail in str(answer.json()["detail"])
    assert query_hub_db(settings.var_dir, "SELECT id FROM intent_corrections") == []


def test_agents_correct_only_conversations_they_may_see(client: TestClient) -> None:
    ids = conversation(client, [("customer", "你好", "greet")])
    login(client, "rita")  # the refunds team: the orders queue is not hers
    answer = client.post(
        f"/console/api/handoffs/{ids['handoff']}/corrections",
        json={"message_id": ids["你好"], "intent": "complain"},
    )
    assert answer.status_code == 403
    login(client, "sam")
    assert (
        client.post(
            "/console/api/corrections/424242/review", json={"decision": "accept"}
        ).status_code
        == 404
    )
    assert (
        client.post("/console/api/corrections/1/review", json={"decision": "maybe"}).status_code
        == 422
    )


def test_the_customers_erasure_deletes_their_corrections(
    client: TestClient, settings: Settings
) -> None:
    ids = conversation(client, [("customer", "我要投诉", "greet")])
    login(client, "olga")
    made = client.post(
        f"/console/api/handoffs/{ids['handoff']}/corrections",
        json={"message_id": ids["我要投诉"], "intent": "complain"},
    )
    assert made.status_code == 200
    sender = query_hub_db(settings.var_dir, "SELECT sender FROM conversations")[0]["sender"]
    hub = client.app.state.services  # type: ignore[attr-defined]
    report = client.portal.call(  # type: ignore[union-attr]
        lambda: hub.personal_data.erase(Subject("webchat", sender), actor_kind="system")
    )
    assert report.others["intent_corrections"] == {"corrections": 1}
    assert query_hub_db(settings.var_dir, "SELECT id FROM intent_corrections") == []


def test_the_training_file_leaves_out_held_out_and_known_messages(tmp_path: Path) -> None:
    dev_text = load_examples(DEV_DATA / "zh")[0].text
    examples = [
        TrainingExample("complain", "我的包裹[phone](家里)被压坏了", "zh"),
        TrainingExample("complain", "我的包裹[phone] (家里) 被压坏了!", "zh"),  # a repeat
        TrainingExample("greet", dev_text, "zh"),  # a dev message: never in training
        TrainingExample("thanks", "  多谢\n你们  ", "zh"),
    ]
    text = training_yaml(examples, known_keys())
    assert text.startswith("# Generated by `python -m bot train`")
    path = tmp_path / "corrections.yml"
    path.write_text(text, encoding="utf-8")
    assert [(e.intent, e.text, e.entities) for e in load_examples(path)] == [
        ("complain", "我的包裹[phone] (家里)被压坏了", ()),  # no entity read into it
        ("thanks", "多谢 你们", ()),
    ]
    assert training_yaml([], set()) == ""


def test_the_nlu_corrections_command_prints_the_training_file(
    client: TestClient, settings: Settings
) -> None:
    ids = conversation(client, [("customer", "快递盒子被压扁了，东西也坏了", "greet")])
    login(client, "olga")
    made = client.post(
        f"/console/api/handoffs/{ids['handoff']}/corrections",
        json={"message_id": ids["快递盒子被压扁了，东西也坏了"], "intent": "complain"},
    ).json()
    login(client, "sam")
    client.post(f"/console/api/corrections/{made['id']}/review", json={"decision": "accept"})
    result = CliRunner().invoke(
        app, ["nlu", "corrections"], env={"BOT_VAR_DIR": str(settings.var_dir)}
    )
    assert result.exit_code == 0, result.output
    summary, _, text = result.stdout.partition("\n")
    path = settings.var_dir / "nlu" / "corrections" / CORRECTIONS_FILE
    assert json.loads(summary) == {
        "accepted": 1,
        "training_examples": 1,
        "left_out": 0,
        "file": str(path),
    }
    assert "- intent: complain\n  examples: |\n    - 快递盒子被压扁了，东西也坏了\n" in text


def unsure_setup(client: TestClient) -> dict[str, int]:
    """Customer messages in three conversations: unsure in each way, and sure ones. The
    intents are stored as the hub stores them (with Rasa's top-3 ranking)."""
    hub = client.app.state.services  # type: ignore[attr-defined]

    def make(public_id: str, language: str, rows: list[tuple[str, str | None, float, int]]) -> Any:
        def store(session: Any) -> dict[str, int]:
            conversation = Conversation(
                public_id=public_id, channel="webchat", sender=f"v-{public_id[:6]}", mode="bot"
            )
            session.add(conversation)
            ids: dict[str, int] = {}
            for text, intent, confidence, _ in rows:
                message = Message(
                    conversation=conversation,
                    direction="in",
                    author="customer",
                    text=text,
                    language=language,
                )
                session.add(message)
                session.flush()
                ids[text] = message.id
                if intent is not None:
                    ranking = [(intent, confidence), ("complain", 0.2), ("thanks", 0.05)]
                    store_message_intent(
                        session.connection(), message.id, intent, confidence, ranking
                    )
            return ids

        return store

    a, b, c = (uuid.uuid4().hex for _ in range(3))

    async def run() -> dict[str, int]:
        ids: dict[str, int] = await hub.database.session(
            make(
                a,
                "zh",
                [
                    ("你好", "greet", 0.97, 0),
                    (HOSTILE, "check_order_status", 0.31, 0),  # low confidence
                    ("嗯嗯那个东西", "nlu_fallback", 0.9, 0),  # the fallback
                ],
            )
        )
        ids |= await hub.database.session(
            make(b, "en", [("where is my parcel", "check_order_status", 0.95, 0)])
        )
        # A confident message after which the customer asked for a human: unsure too; the
        # confident message before it is not (the customer wrote again before the handoff).
        ids |= await hub.database.session(
            make(
                c,
                "en",
                [
                    ("hello there", "greet", 0.99, 0),
                    ("i want my money back now", "request_return_refund", 0.92, 0),
                ],
            )
        )
        await hub.handoffs.request(c, "customer_request", language="en", skill="refunds")
        return ids

    made: dict[str, int] = client.portal.call(run)  # type: ignore[union-attr]
    return made


def test_supervisors_settle_the_messages_the_bot_was_unsure_about(
    client: TestClient, settings: Settings
) -> None:
    ids = unsure_setup(client)
    url = "/console/api/corrections/unsure"
    assert client.get(url).status_code == 401
    login(client, "olga")
    assert client.get(url).status_code == 403  # agents do not settle
    login(client, "sam")
    listed = client.get(url)
    assert listed.status_code == 200, listed.text
    messages = listed.json()["messages"]
    # Newest first; the confident messages are not there.
    assert [(m["message_id"], m["intent"], m["reasons"]) for m in messages] == [
        (ids["i want my money back now"], "request_return_refund", ["handoff"]),
        (ids["嗯嗯那个东西"], "nlu_fallback", ["fallback"]),
        (ids[HOSTILE], "check_order_status", ["low_confidence"]),
    ]
    low = messages[2]
    assert "13812345678" not in low["text"]  # redacted
    assert "[phone]" in low["text"]
    assert low["confidence"] == 0.31
    assert low["alternatives"] == [
        {"intent": "complain", "confidence": 0.2},
        {"intent": "thanks", "confidence": 0.05},
    ]
    assert low["language"] == "zh"
    by_language = client.get(url, params={"language": "en"}).json()["messages"]
    assert [m["message_id"] for m in by_language] == [ids["i want my money back now"]]
    page = client.get(url, params={"limit": 1, "before": ids["嗯嗯那个东西"]}).json()
    assert [m["message_id"] for m in page["messages"]] == [ids[HOSTILE]]

    settle = f"{url}/{ids[HOSTILE]}"
    assert (
        client.post(settle, json={"intent": "complain"}, headers={"X-CSRF-Token": "x"}).status_code
        == 403
    )
    # One click: confirm the bot's intent, or pick another one.
    confirmed = client.post(settle, json={"intent": "check_order_status"})
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert (body["status"], body["wrong_intent"], body["right_intent"]) == (
        "accepted",
        "check_order_status",
        "check_order_status",
    )
    assert (body["agent"], body["reviewer"]) == ("sam", "sam")
    assert "13812345678" not in body["text"]
    again = client.post(settle, json={"intent": "complain"})
    assert again.status_code == 409
    assert "has a correction already (accepted)" in again.json()["detail"]
    other = client.post(f"{url}/{ids['嗯嗯那个东西']}", json={"intent": "complain"})
    assert other.json()["right_intent"] == "complain"
    left = client.get(url).json()["messages"]
    assert [m["message_id"] for m in left] == [ids["i want my money back now"]]
    stored = query_hub_db(
        settings.var_dir, "SELECT right_intent, status FROM intent_corrections ORDER BY id"
    )
    assert [(r["right_intent"], r["status"]) for r in stored] == [
        ("check_order_status", "accepted"),
        ("complain", "accepted"),
    ]
    # Both are training examples, the way reviewed corrections are.
    written = write_corrections(settings)
    assert written.path is not None
    assert sorted(e.intent for e in load_examples(written.path)) == [
        "check_order_status",
        "complain",
    ]


@pytest.mark.parametrize(
    ("path", "body", "status", "detail"),
    [
        ("greeting", {"intent": "no_such_intent"}, 422, "unknown intent"),
        ("greeting", {"intent": "nlu_fallback"}, 422, "unknown intent"),
        ("greeting", {"intent": "x" * 65}, 422, ""),
        ("greeting", {"intent": "complain", "extra": 1}, 422, ""),
        ("999999", {"intent": "complain"}, 404, "no customer message"),
        ("0", {"intent": "complain"}, 422, ""),
        ("abc", {"intent": "complain"}, 422, ""),
    ],
)
def test_bad_settlements_are_refused_and_store_nothing(
    client: TestClient,
    settings: Settings,
    path: str,
    body: dict[str, object],
    status: int,
    detail: str,
) -> None:
    ids = conversation(client, [("customer", "你好", "greet")])
    login(client, "sam")
    target = str(ids["你好"]) if path == "greeting" else path
    answer = client.post(f"/console/api/corrections/unsure/{target}", json=body)
    assert answer.status_code == status, answer.text
    assert detail in str(answer.json()["detail"])
    assert query_hub_db(settings.var_dir, "SELECT id FROM intent_corrections") == []


@pytest.mark.parametrize(
    "query", [{"language": "fr"}, {"limit": 0}, {"limit": 201}, {"before": -1}]
)
def test_bad_unsure_queries_are_refused(client: TestClient, query: dict[str, str | int]) -> None:
    login(client, "sam")
    assert client.get("/console/api/corrections/unsure", params=query).status_code == 422


def test_the_customers_export_has_their_intents_and_erasure_removes_them(
    client: TestClient, settings: Settings
) -> None:
    ids = unsure_setup(client)
    sender = query_hub_db(
        settings.var_dir,
        "SELECT c.sender FROM conversations c JOIN messages m ON m.conversation_id = c.id "
        f"WHERE m.id = {ids[HOSTILE]}",
    )[0]["sender"]
    hub = client.app.state.services  # type: ignore[attr-defined]
    subject = Subject("webchat", sender)
    exported = client.portal.call(  # type: ignore[union-attr]
        lambda: hub.personal_data.export(subject, actor_kind="system")
    )
    with zipfile.ZipFile(io.BytesIO(exported)) as archive:
        data = json.loads(archive.read("data.json"))
    intents = data["intent_corrections"]["message_intents"]
    assert [(i["message_id"], i["intent"], i["confidence"]) for i in intents] == [
        (ids["你好"], "greet", 0.97),
        (ids[HOSTILE], "check_order_status", 0.31),
        (ids["嗯嗯那个东西"], "nlu_fallback", 0.9),
    ]
    assert intents[1]["ranking"][1] == {"intent": "complain", "confidence": 0.2}
    # Only this customer's: the other conversations' intents are not in it.
    assert ids["where is my parcel"] not in {i["message_id"] for i in intents}

    client.portal.call(  # type: ignore[union-attr]
        lambda: hub.personal_data.erase(subject, actor_kind="system")
    )
    left = query_hub_db(settings.var_dir, "SELECT message_id FROM analytics_message_intents")
    assert sorted(r["message_id"] for r in left) == sorted(
        ids[t] for t in ("where is my parcel", "hello there", "i want my money back now")
    )
    again = client.portal.call(  # type: ignore[union-attr]
        lambda: hub.personal_data.export(subject, actor_kind="system")
    )
    with zipfile.ZipFile(io.BytesIO(again)) as archive:
        assert json.loads(archive.read("data.json"))["intent_corrections"]["message_intents"] == []


def test_two_supervisors_settling_one_message_at_once_make_one_correction(
    client: TestClient, settings: Settings
) -> None:
    ids = unsure_setup(client)
    hub = client.app.state.services  # type: ignore[attr-defined]
    service: CorrectionService = hub.corrections

    async def both() -> tuple[Correction | BaseException, ...]:
        return await asyncio.gather(
            service.settle(message_id=ids[HOSTILE], intent="complain", supervisor="sam"),
            service.settle(message_id=ids[HOSTILE], intent="thanks", supervisor="tess"),
            return_exceptions=True,
        )

    results = client.portal.call(both)  # type: ignore[union-attr]
    made = [r for r in results if isinstance(r, Correction)]
    refused = [r for r in results if isinstance(r, CorrectionReviewed)]
    assert (len(made), len(refused)) == (1, 1)
    stored = query_hub_db(settings.var_dir, "SELECT right_intent FROM intent_corrections")
    assert [r["right_intent"] for r in stored] == [made[0].right_intent]
