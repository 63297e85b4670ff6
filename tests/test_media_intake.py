"""The upload API in the real hub (real SQLite, real engines) with Rasa down: every bad file gets
a clear 4xx and a reply for the customer, originals are kept for agents, then purged."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from bot.app import Settings, create_app
from bot.app import app as cli
from bot.storage import Database
from channels.connector import REPLIES
from channels.media import render_text_image, synthesize_speech
from tests.conftest import query_hub_db
from tests.launch import free_port
from tests.migrations import model_differences
from tests.waiting import wait_until

LIMIT = 150_000
KEY = "test-api-key"


def make_settings(var_dir: Path, **overrides: Any) -> Settings:
    nobody = free_port()  # Rasa and the action server are down
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=var_dir,
        rasa_port=nobody,
        actions_port=nobody,
        webchat_origins="https://shop.example.com",
        **{"api_key": KEY, "media_max_upload_bytes": LIMIT, **overrides},
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("uploads")
    synthesize_speech("Where is my order?", "en", folder / "voice.wav")
    synthesize_speech("When will my refund arrive?", "en", folder / "refund.wav")
    synthesize_speech("I want to return this item.", "en", folder / "return.wav")
    synthesize_speech(
        "I ordered a phone last week and paid with a credit card. The tracking number does not "
        "show any updates, and nobody answered when I called the delivery company twice "
        "yesterday. I need the phone before my trip on Friday, so please tell me where the "
        "parcel is now and when it will arrive, or send a new one. Please call me back this "
        "afternoon.",
        "en",
        folder / "long.wav",
    )
    subprocess.run(
        ["sox", "-n", "-r", "16000", "-c", "1", str(folder / "silence.wav"), "trim", "0", "2"],
        check=True,
    )
    render_text_image(["订单号：YX2611010001", "订单状态：已发货"], folder / "order.png")
    Image.new("RGB", (400, 300), (90, 160, 90)).save(folder / "blank.png")
    (folder / "big.png").write_bytes(b"\x89PNG" + b"\0" * (LIMIT + 10))
    (folder / "huge.png").write_bytes(b"\x89PNG" + b"\0" * (LIMIT * 3))
    return folder


def authorized(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), headers={"Authorization": f"Bearer {KEY}"})


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with authorized(make_settings(tmp_path)) as test_client:
        yield test_client


def upload(
    client: TestClient,
    path: Path,
    *,
    name: str | None = None,
    mime: str = "application/octet-stream",
    url: str = "/api/media",
    **fields: str,
) -> Any:
    with path.open("rb") as handle:
        return client.post(
            url,
            data={"sender": "customer-42", **fields},
            files={"file": (name or path.name, handle, mime)},
        )


@pytest.mark.parametrize(
    ("name", "as_name", "mime", "status", "reason", "says"),
    [
        ("empty.wav", None, "audio/wav", 422, "empty", "the file is empty"),
        ("notes.txt", "voice.mp3", "audio/mpeg", 422, "corrupt", "cannot be decoded as audio"),
        ("order.png", "voice.m4a", "audio/mp4", 422, "mislabelled", "contains an image (png)"),
        (
            "random.bin",
            None,
            "application/octet-stream",
            415,
            "unsupported",
            "not a supported media file",
        ),
        ("big.png", None, "image/png", 413, "too_large", f"larger than the limit of {LIMIT} bytes"),
    ],
)
def test_bad_files_get_a_clear_refusal(
    client: TestClient,
    files: Path,
    tmp_path: Path,
    name: str,
    as_name: str | None,
    mime: str,
    status: int,
    reason: str,
    says: str,
) -> None:
    (files / "empty.wav").write_bytes(b"")
    (files / "notes.txt").write_text("not audio at all\n" * 50)
    (files / "random.bin").write_bytes(bytes(range(256)) * 20)
    response = upload(client, files / name, name=as_name, mime=mime, language="en")
    assert response.status_code == status
    body = response.json()
    assert says in body["detail"]
    assert (body["reason"], body["reply"]) == (reason, REPLIES[reason]["en"])
    assert "attachment_id" not in body  # nothing worth keeping
    assert query_hub_db(tmp_path, "SELECT * FROM attachments") == []
    assert list((tmp_path / "media" / "incoming").iterdir()) == []


def test_the_body_limit_of_the_upload_path(client: TestClient, files: Path) -> None:
    response = upload(client, files / "huge.png", mime="image/png")
    assert response.status_code == 413
    assert "the request body is larger than the limit" in response.json()["detail"]
    # JSON endpoints keep their own, much smaller limit.
    small = client.post("/api/messages", json={"sender": "s", "text": "x" * 70_000})
    assert small.status_code == 413


@pytest.mark.parametrize(
    ("name", "reason", "reply_language"),
    [("silence.wav", "silent", "zh"), ("blank.png", "no_text", "en")],
)
def test_unreadable_media_is_refused_but_kept_for_agents(
    client: TestClient, files: Path, tmp_path: Path, name: str, reason: str, reply_language: str
) -> None:
    response = upload(client, files / name, language=reply_language)
    assert response.status_code == 422
    body = response.json()
    assert (body["reason"], body["reply"]) == (reason, REPLIES[reason][reply_language])
    rows = query_hub_db(tmp_path, "SELECT public_id, status, reason, sender FROM attachments")
    assert [(r["public_id"], r["status"], r["sender"]) for r in rows] == [
        (body["attachment_id"], "rejected", "customer-42")
    ]
    assert rows[0]["reason"] == body["detail"]
    original = client.get(f"/api/media/{body['attachment_id']}")
    assert original.status_code == 200
    assert original.content == (files / name).read_bytes()
    assert original.headers["x-content-type-options"] == "nosniff"


def test_a_voice_message_is_transcribed_and_stored_even_when_rasa_is_down(
    client: TestClient, files: Path, tmp_path: Path
) -> None:
    response = upload(client, files / "voice.wav", name="voice.wav", mime="audio/wav")
    assert response.status_code == 503
    assert response.json()["reason"] == "dialogue_unavailable"
    rows = query_hub_db(tmp_path, "SELECT direction, text, status, payload FROM messages")
    assert len(rows) == 1
    assert rows[0]["status"] == "failed"
    assert "where is my order" in rows[0]["text"].lower()
    media = json.loads(rows[0]["payload"])["media"]
    assert (media["kind"], media["format"], media["text"]) == ("audio", "wav", rows[0]["text"])
    kept = query_hub_db(tmp_path, "SELECT status, extracted_text, public_id FROM attachments")
    assert [(k["status"], k["extracted_text"], k["public_id"]) for k in kept] == [
        ("accepted", rows[0]["text"], media["attachment_id"])
    ]


def test_one_customers_voice_messages_keep_their_order_while_others_go_ahead(
    tmp_path: Path, files: Path
) -> None:
    settings = make_settings(tmp_path, media_max_upload_bytes=4_000_000)
    with authorized(settings) as client, ThreadPoolExecutor(3) as pool:
        upload(client, files / "voice.wav", sender="warm-up")  # the model loads once

        def kept() -> int:
            return int(query_hub_db(tmp_path, "SELECT count(*) FROM attachments")[0][0])

        long_a = pool.submit(upload, client, files / "long.wav", sender="customer-a")
        wait_until(
            lambda: kept() >= 2 or long_a.done(),
            "A's long message to be in the intake",
            timeout_s=60,
            interval_s=0.02,
        )
        assert kept() == 2, long_a.result().json()
        short_a = pool.submit(upload, client, files / "refund.wav", sender="customer-a")
        short_b = pool.submit(upload, client, files / "return.wav", sender="customer-b")
        assert short_b.result().status_code == 503  # Rasa is down; the message is stored
        assert not long_a.done()  # B did not wait for A's long message
        assert [long_a.result().status_code, short_a.result().status_code] == [503, 503]
    heard = [
        r["text"].lower() for r in query_hub_db(tmp_path, "SELECT text FROM messages ORDER BY id")
    ]
    assert len(heard) == 4
    spoken = [next(i for i, t in enumerate(heard) if w in t) for w in ("afternoon", "refund")]
    assert spoken[0] < spoken[1]  # A's messages in the order A sent them
    assert heard.index(next(t for t in heard if "return" in t)) < spoken[0]


def test_a_screenshot_becomes_a_caption_and_an_order_status_trigger(
    client: TestClient, files: Path, tmp_path: Path
) -> None:
    response = upload(client, files / "order.png", mime="image/png", language="en")
    assert response.status_code == 503  # Rasa is down; what it was sent is in the hub's store
    rows = query_hub_db(tmp_path, "SELECT text, language, payload FROM messages")
    assert [(r["text"], r["language"]) for r in rows] == [("[Image] order YX2611010001", "en")]
    media = json.loads(rows[0]["payload"])["media"]
    assert media["facts"]["order_ids"] == ["YX2611010001"]
    assert "订单状态" in media["text"]


def test_the_api_key_guards_the_api_but_not_the_widget_upload(tmp_path: Path, files: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        assert upload(client, files / "blank.png").status_code == 401
        assert client.get("/api/media/whatever").status_code == 401
        # The widget proves its session with the session id instead.
        response = upload(client, files / "blank.png", url="/webchat/upload", session_id="x" * 32)
        assert response.status_code == 422
        assert "unknown session_id" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"json": {"sender": "s"}}, "send the file as multipart/form-data"),
        ({"data": {"sender": "s"}, "files": {"other": ("a.png", b"x", "image/png")}}, "no file"),
        ({"data": {}, "files": {"file": ("a.png", b"x", "image/png")}}, "needs a field 'sender'"),
    ],
)
def test_malformed_upload_requests(client: TestClient, body: dict[str, Any], says: str) -> None:
    response = client.post("/api/media", **body)
    assert response.status_code == 422
    assert says in response.json()["detail"]
    assert response.json()["reason"] == "bad_request"


def test_expired_originals_are_deleted_by_the_purge_command(
    tmp_path: Path, files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with authorized(make_settings(tmp_path, media_retention_days=0)) as client:
        kept = upload(client, files / "blank.png").json()["attachment_id"]
        stored = query_hub_db(tmp_path, "SELECT path FROM attachments")[0]["path"]
        assert (tmp_path / "media" / stored).is_file()
        monkeypatch.setenv("BOT_VAR_DIR", str(tmp_path))
        result = CliRunner().invoke(cli, ["media", "purge"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == {"deleted": 1}
        assert not (tmp_path / "media" / stored).exists()
        row = query_hub_db(tmp_path, "SELECT path, purged_at FROM attachments")[0]
        assert row["path"] is None
        assert row["purged_at"] is not None
        gone = client.get(f"/api/media/{kept}")
        assert gone.status_code == 410
        assert "retention period" in gone.json()["detail"]


def test_the_widget_upload_allows_the_configured_shop_only(client: TestClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = client.options(
        "/webchat/upload", headers={"Origin": "https://shop.example.com", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example.com"
    other = client.options(
        "/webchat/upload", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in other.headers
    api = client.options("/api/media", headers={"Origin": "https://shop.example.com", **preflight})
    assert "access-control-allow-origin" not in api.headers


def test_the_demo_page_embeds_the_widget_with_one_script_tag(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.text.count("<script") == 1
    assert '<script src="/widget/widget.js"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = client.get("/widget/widget.js")
    assert script.status_code == 200
    assert "session_request" in script.text
    assert client.get("/widget/widget.css").status_code == 200


async def test_the_media_tables_match_the_models(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path}/hub.db")
    await database.migrate()
    differences = model_differences(database, "attachments", "webchat_sessions")
    database.dispose()
    assert differences == []


def test_without_an_api_key_kept_media_is_for_agents_only(
    tmp_path: Path, files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TestClient(create_app(make_settings(tmp_path, api_key=None))) as client:
        kept = upload(client, files / "blank.png").json()["attachment_id"]
        for path in (f"/api/media/{kept}", "/api/media?channel=rest&sender=customer-42"):
            refused = client.get(path)
            assert refused.status_code == 403
            assert "set BOT_API_KEY" in refused.json()["detail"]
        assert client.get(f"/console/media/{kept}").status_code == 401  # no agent logged in

        monkeypatch.setenv("BOT_VAR_DIR", str(tmp_path))
        monkeypatch.setenv("BOT_NEW_AGENT_PASSWORD", "correct horse battery")
        added = CliRunner().invoke(cli, ["agents", "add", "wang"])
        assert added.exit_code == 0, added.output
        login = {"username": "wang", "password": "correct horse battery"}
        assert client.post("/console/api/login", json=login).status_code == 200
        # An agent none of whose handoffs is this conversation's: as if it did not exist.
        assert client.get(f"/console/media/{kept}").status_code == 404
        added = CliRunner().invoke(cli, ["agents", "add", "lin", "--role", "supervisor"])
        assert added.exit_code == 0, added.output
        login = {"username": "lin", "password": "correct horse battery"}
        assert client.post("/console/api/login", json=login).status_code == 200
        original = client.get(f"/console/media/{kept}")
        assert (original.status_code, original.content) == (200, (files / "blank.png").read_bytes())
