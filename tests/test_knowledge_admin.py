"""The admin API in the real hub app: token, upload limits, bad files, upload and delete."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from bot.app import Settings, create_app, uploads_dir
from bot.conversations._store import close_turn, open_turn
from bot.dialogue import BotReply
from bot.storage.models import Message, utcnow
from tests.launch import free_port

TOKEN = "admin-secret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LIMIT = 4096

FAQ = """\
- id: hours
  question: 客服什么时间上班？
  answer: 每天09:00–21:00。
- id: hotline
  question: 客服电话是多少？
  answer: 400-800-1234。
"""


def make_settings(var_dir: Path, cache: Path, **overrides: Any) -> Settings:
    nobody = free_port()
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=var_dir,
        rasa_port=nobody,
        actions_port=nobody,
        max_upload_bytes=LIMIT,
        embedding_cache=cache,
        knowledge_faq_threshold=0.9,
        **overrides,
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("admin-embeddings") / "embeddings.sqlite"


@pytest.fixture
def settings(tmp_path: Path, cache: Path) -> Settings:
    return make_settings(tmp_path, cache, admin_token=TOKEN)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def upload(client: TestClient, name: str, content: bytes, headers: dict[str, str] = AUTH) -> Any:
    return client.post(
        "/admin/knowledge/documents", files={"file": (name, content)}, headers=headers
    )


def test_without_a_token_setting_the_admin_api_is_off(tmp_path: Path, cache: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, cache))) as client:
        response = upload(client, "faq.yaml", FAQ.encode())
        assert (response.status_code, response.json()) == (
            503,
            {
                "detail": "admin API disabled: set BOT_ADMIN_TOKEN, or log in to the console as "
                "an admin (python -m bot agents add --role admin)"
            },
        )
        assert client.get("/admin/knowledge/sources", headers=AUTH).status_code == 503


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}]
)
def test_a_missing_or_wrong_token_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    response = upload(client, "faq.yaml", FAQ.encode(), headers=headers)
    assert response.status_code == 401
    assert response.json() == {
        "detail": "missing or wrong admin token; send 'Authorization: Bearer <token>', or log "
        "in to the console as an admin"
    }
    assert response.headers["www-authenticate"] == "Bearer"


def test_upload_replace_and_delete(client: TestClient, settings: Settings) -> None:
    added = upload(client, "faq.yaml", FAQ.encode())
    assert added.status_code == 200, added.text
    body = added.json()
    stored = uploads_dir(settings) / "faq.yaml"
    assert (body["source"], body["added"], body["chunks_added"]) == (
        "faq.yaml",
        [str(stored.resolve())],
        4,
    )
    assert stored.read_text(encoding="utf-8") == FAQ

    same = upload(client, "faq.yaml", FAQ.encode()).json()
    assert (same["unchanged"], same["chunks_added"]) == ([str(stored.resolve())], 0)

    changed = upload(client, "faq.yaml", FAQ.replace("400-800-1234", "400-800-5678").encode())
    assert changed.json()["updated"] == [str(stored.resolve())]

    listing = client.get("/admin/knowledge/sources", headers=AUTH).json()
    assert [(s["source"], s["doc_ids"], s["chunks"]) for s in listing["sources"]] == [
        (str(stored.resolve()), ["hotline", "hours"], 4)
    ]
    assert listing["stats"]["faq_entries"] == 2

    deleted = client.delete("/admin/knowledge/documents/faq.yaml", headers=AUTH)
    assert (deleted.status_code, deleted.json()) == (
        200,
        {"deleted": "faq.yaml", "chunks_deleted": 4},
    )
    assert not stored.exists()
    missing = client.delete("/admin/knowledge/documents/faq.yaml", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["detail"].startswith("no source 'faq.yaml' in the knowledge base")


@pytest.mark.parametrize(
    ("name", "content", "status", "detail"),
    [
        (
            "virus.exe",
            b"MZ",
            415,
            "files of type '.exe' cannot be ingested; supported: .bmp, .csv,",
        ),
        ("empty.md", b"", 422, "the file is empty"),
        (".hidden.md", b"# x", 422, "the upload needs a file name with an extension"),
        ("big.md", b"x" * (LIMIT + 1), 413, f"the file is larger than the limit of {LIMIT} bytes"),
        (
            "faq.yaml",
            "- question: 只有问题\n".encode(),
            422,
            "faq.yaml: entry 1 (id 'faq.yaml#1') has no answer",
        ),
        (
            "notes.md",
            b"\xff\xfe\x00\xd8",
            422,
            "notes.md: the file is not text in UTF-8 or GB18030",
        ),
    ],
)
def test_bad_uploads_are_refused_and_change_nothing(
    client: TestClient, settings: Settings, name: str, content: bytes, status: int, detail: str
) -> None:
    assert upload(client, "faq.yaml", FAQ.encode()).status_code == 200
    response = upload(client, name, content)
    assert response.status_code == status
    assert response.json()["detail"].startswith(detail)
    # The good version is still in place, on disk and in the index, and nothing else is left.
    assert sorted(p.name for p in uploads_dir(settings).iterdir()) == ["faq.yaml"]
    assert (uploads_dir(settings) / "faq.yaml").read_text(encoding="utf-8") == FAQ
    sources = client.get("/admin/knowledge/sources", headers=AUTH).json()["sources"]
    assert [s["chunks"] for s in sources] == [4]


def test_the_hub_body_limit_is_larger_only_on_the_admin_path(client: TestClient) -> None:
    huge = b"x" * (LIMIT + 70 * 1024)  # over the upload limit and the multipart allowance
    response = upload(client, "huge.md", huge)
    assert response.status_code == 413
    assert "the request body is larger than the limit of" in response.json()["detail"]
    # Everywhere else the JSON limit stays.
    api = client.post("/api/messages", json={"sender": "s", "text": "x" * 70_000})
    assert api.status_code == 413


def remember(
    client: TestClient, sender: str, question: str, abstained: bool, days_ago: int = 0
) -> None:
    """A customer's question and the bot's replies as the hub stores them; Rasa sends the
    knowledge answer's data as a reply of its own."""
    database = client.app.state.services.database  # type: ignore[attr-defined]
    replies = [
        BotReply(text="…"),
        BotReply(custom={"citations": [], "knowledge": {"kind": "x", "abstained": abstained}}),
    ]
    with database.engine.begin() as connection:
        turn = open_turn(connection, "webchat", sender, question, {}, "zh")
        stored = close_turn(connection, turn, "answered", replies)
        if days_ago:
            connection.execute(
                update(Message)
                .where(Message.id.in_([turn.message_id, *(m.id for m in stored)]))
                .values(created_at=utcnow() - timedelta(days=days_ago))
            )


def test_questions_the_knowledge_base_could_not_answer(client: TestClient) -> None:
    remember(client, "s1", "我的手机号是13812345678，你们有线下门店吗", abstained=True)
    remember(client, "s2", "Do you sell gift cards?", abstained=True)
    remember(client, "s3", "我的手机号是 139-0000-1111，你们有线下门店吗？", abstained=True)
    remember(client, "s4", "退款多久到账", abstained=False)
    remember(client, "s5", "do you sell gift cards", abstained=True)
    remember(client, "s6", "你們有禮品卡嗎", abstained=True, days_ago=40)

    response = client.get("/admin/knowledge/unanswered", headers=AUTH)
    assert response.status_code == 200
    listed = [(q["question"], q["asked"], q["language"]) for q in response.json()["questions"]]
    # Grouped however typed, in the latest wording, phone numbers redacted; most asked, then
    # most lately asked, first; answered questions and those older than 30 days left out.
    assert listed == [
        ("do you sell gift cards", 2, "en"),
        ("我的手机号是 [phone]，你们有线下门店吗？", 2, "zh"),
    ]
    older = client.get("/admin/knowledge/unanswered?days=60&limit=3", headers=AUTH).json()
    assert [q["question"] for q in older["questions"]][-1] == "你們有禮品卡嗎"
    assert (
        len(client.get("/admin/knowledge/unanswered?limit=1", headers=AUTH).json()["questions"])
        == 1
    )

    for query, detail in (
        ("days=0", "query.days: Input should be greater than or equal to 1"),
        ("days=1000", "query.days: Input should be less than or equal to 366"),
        ("limit=0", "query.limit: Input should be greater than or equal to 1"),
        ("limit=501", "query.limit: Input should be less than or equal to 500"),
        (
            "days=soon",
            "query.days: Input should be a valid integer, unable to parse string as an integer",
        ),
    ):
        bad = client.get(f"/admin/knowledge/unanswered?{query}", headers=AUTH)
        assert (bad.status_code, bad.json()["detail"]) == (422, detail)
    assert client.get("/admin/knowledge/unanswered").status_code == 401

    # Each is asked again: once a FAQ answers it, the list says so.
    assert {q["answered_now"] for q in response.json()["questions"]} == {False}
    gift_cards = """\
- id: gift-cards
  en:
    question: Do you sell gift cards?
    answer: Yes, e-gift cards from ¥50 to ¥1000, under Gift Cards in the app.
"""
    assert upload(client, "gift-cards.yaml", gift_cards.encode()).status_code == 200
    now = client.get("/admin/knowledge/unanswered", headers=AUTH).json()["questions"]
    assert [(q["question"], q["asked"], q["answered_now"]) for q in now] == [
        ("do you sell gift cards", 2, True),
        ("我的手机号是 [phone]，你们有线下门店吗？", 2, False),
    ]
