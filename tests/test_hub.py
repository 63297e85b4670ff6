"""The hub in-process (real app, real SQLite) with no Rasa behind it: input checks and errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from bot.app import Settings, create_app
from tests.conftest import query_hub_db
from tests.launch import free_port

JSON = {"content-type": "application/json"}


def make_settings(var_dir: Path, **overrides: Any) -> Settings:
    nobody = free_port()  # nothing listens here: Rasa and the action server are "down"
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=var_dir,
        rasa_port=nobody,
        actions_port=nobody,
        max_text_chars=50,
        max_request_bytes=2048,
        **overrides,
    )


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path))) as test_client:
        yield test_client


def test_health_is_degraded_without_rasa(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "rasa": "down", "actions": "down"}


def test_rasa_down_gives_503_and_keeps_the_message(client: TestClient, tmp_path: Path) -> None:
    response = client.post("/api/messages", json={"sender": "s1", "text": "你好"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    detail = response.json()["detail"]
    assert "temporarily unavailable" in detail
    assert "Rasa cannot be reached" in detail
    assert "saved" in detail
    rows = query_hub_db(tmp_path, "SELECT direction, text, status, language FROM messages")
    assert [tuple(r) for r in rows] == [("in", "你好", "failed", "zh")]
    # The hub keeps serving while Rasa is down.
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("body", "headers", "status", "detail"),
    [
        (
            {"sender": "s", "text": ""},
            None,
            422,
            "text is empty; send at least one visible character",
        ),
        (
            {"sender": "s", "text": " \n\t "},
            None,
            422,
            "text is empty; send at least one visible character",
        ),
        (
            {"sender": "s", "text": "x" * 51},
            None,
            413,
            "text is 51 characters long; the limit is 50",
        ),
        ({"text": "hi"}, None, 422, "sender: Field required"),
        (
            {"sender": "", "text": "hi"},
            None,
            422,
            "sender: String should have at least 1 character",
        ),
        (
            {"sender": "   ", "text": "hi"},
            None,
            422,
            "sender: sender must contain a visible character",
        ),
        (
            {"sender": "s" * 129, "text": "hi"},
            None,
            422,
            "sender: String should have at most 128 characters",
        ),
        ({"sender": "s"}, None, 422, "text: Field required"),
        ({"sender": "s", "text": 5}, None, 422, "text: Input should be a valid string"),
        ({"sender": "s", "text": "hi", "message": "x"}, None, 422, "unknown field 'message'"),
        (
            {"sender": "s", "text": "hi", "metadata": []},
            None,
            422,
            "metadata: Input should be a valid dictionary",
        ),
        ([1, 2], None, 422, "the request body must be a JSON object"),
        ("not json", JSON, 422, "the request body is not valid JSON (Expecting value)"),
        (b"\xff\xfe{", JSON, 422, "the request body is not valid JSON (it must be UTF-8 text)"),
        (
            None,
            JSON,
            422,
            'the request body is missing; send JSON like {"sender": "...", "text": "..."}',
        ),
        (
            "sender=s&text=hi",
            {"content-type": "application/x-www-form-urlencoded"},
            415,
            "send the body as JSON with the header 'Content-Type: application/json'",
        ),
        (
            {"sender": "s", "text": "y" * 3000},
            None,
            413,
            "the request body is larger than the limit of 2048 bytes",
        ),
    ],
)
def test_bad_input_is_refused_with_a_reason_and_stores_nothing(
    client: TestClient,
    tmp_path: Path,
    body: object,
    headers: dict[str, str] | None,
    status: int,
    detail: str,
) -> None:
    if isinstance(body, str | bytes) or body is None:
        response = client.post("/api/messages", content=body, headers=headers)
    else:
        response = client.post("/api/messages", content=json.dumps(body), headers=JSON)
    assert (response.status_code, response.json()) == (status, {"detail": detail})
    assert query_hub_db(tmp_path, "SELECT * FROM messages") == []


def test_chunked_body_over_the_limit_is_refused(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"sender": "s", "text": "'
        for _ in range(10):
            yield b"z" * 500
        yield b'"}'

    response = client.post("/api/messages", content=chunks(), headers=JSON)
    assert response.status_code == 413


def test_api_key_is_required_when_configured(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api_key="s3cret")
    with TestClient(create_app(settings)) as client:
        body = {"sender": "s", "text": "hi"}
        missing = client.post("/api/messages", json=body)
        wrong = client.post("/api/messages", json=body, headers={"authorization": "Bearer nope"})
        right = client.post("/api/messages", json=body, headers={"authorization": "Bearer s3cret"})
        health = client.get("/healthz")
    assert missing.status_code == wrong.status_code == 401
    assert "Authorization: Bearer <key>" in missing.json()["detail"]
    assert right.status_code == 503  # past the key check; Rasa is down in this test
    assert health.status_code == 200  # health checks need no key


def _first_requests_build_validators(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> int:
    """How many pydantic validators FastAPI builds while answering first requests to routes
    of several routers (the build happens on the first request that scans a router)."""
    built: list[type] = []
    original = TypeAdapter.__init__

    def counting(self: TypeAdapter[Any], *args: Any, **kwargs: Any) -> None:
        built.append(type(self))
        original(self, *args, **kwargs)

    monkeypatch.setattr(TypeAdapter, "__init__", counting)
    assert client.post("/api/messages", json={}).status_code == 422
    assert client.get("/admin/knowledge/unanswered").status_code == 503  # no admin key set
    assert client.post("/channels/nowhere", content=b"").status_code == 404
    return len(built)


def test_the_hub_builds_its_routes_before_the_first_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A webhook arriving first after a start is answered as fast as the next one: FastAPI's
    per-router build (about 100 ms on this hub) happens during start-up, not in a request."""
    with TestClient(create_app(make_settings(tmp_path))) as started:
        assert _first_requests_build_validators(started, monkeypatch) == 0
    monkeypatch.undo()
    # Without start-up (no lifespan), the same first requests do build them: the check bites.
    unstarted = TestClient(create_app(make_settings(tmp_path / "cold")))
    assert _first_requests_build_validators(unstarted, monkeypatch) > 0
