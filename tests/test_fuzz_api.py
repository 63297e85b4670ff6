"""schemathesis against the hub's own OpenAPI document: every route, with and without credentials
(the API key, and a supervisor's console session with its CSRF token), a bounded number of
generated requests each. No request may end in a 500 or in a response that breaks the documented
schema; a refusal must say what is wrong. Real hub, real SQLite; Rasa and the action server are
down, so a message that is accepted is stored and answered 503 (the documented "dialogue
unavailable"), which is the one 5xx allowed, and only on the routes that talk to Rasa."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import socketio
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)

from bot.app import create_app
from tests.live_hub import hub_settings, serving_in_thread

API_KEY = "fuzz-api-key-0123456789abcdef"
PASSWORD = "correct horse battery staple"
# The API key and the admin token are one value here so that one Authorization header opens
# both APIs in the credentialed run.
CREDENTIALS = {"api_key": API_KEY, "admin_token": API_KEY}
CSRF_COOKIE, CSRF_HEADER = "console_csrf", "X-CSRF-Token"  # the console's documented pair
MAX_EXAMPLES = 12
# The routes that hand a message to Rasa: with Rasa down they answer 503, as documented.
TALKS_TO_RASA = frozenset(
    {"/healthz"}  # which reports Rasa down
    | {"/api/messages", "/api/media", "/console/api/handoffs/{handoff_id}/return"}
)
# What the hub's OpenAPI documents of its answers and what it cannot: FastAPI lists only the
# success and 422 bodies, so undocumented refusals (401, 404, 409, 429…) are checked here instead
# of by status-code conformance.
CHECKS = (content_type_conformance, response_headers_conformance, response_schema_conformance)


def hub_openapi() -> dict[str, Any]:
    """The hub's OpenAPI document, as the app built from the shipped settings serves it."""
    with tempfile.TemporaryDirectory() as folder:
        return create_app(hub_settings(Path(folder), **CREDENTIALS)).openapi()


@dataclass(frozen=True)
class Fuzzed:
    url: str
    console_headers: dict[str, str]
    console_cookies: dict[str, str]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    """The hub served by uvicorn on a free port in a thread of its own, with a supervisor logged
    in (schemathesis's tests are synchronous)."""
    app = create_app(hub_settings(tmp_path_factory.mktemp("fuzz-var"), **CREDENTIALS))
    asgi = socketio.ASGIApp(app.state.sio, other_asgi_app=app)
    with serving_in_thread(asgi) as url:
        agents = app.state.services.agents
        asyncio.run(agents.create("sofia", PASSWORD, role="supervisor"))
        login = httpx.post(
            f"{url}/console/api/login", json={"username": "sofia", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        cookies = dict(login.cookies)
        yield Fuzzed(url, {CSRF_HEADER: cookies[CSRF_COOKIE]}, cookies)


schema = schemathesis.openapi.from_dict(hub_openapi())
# Run on its own (make test): under pytest-xdist schemathesis reports its cases as passed even
# when they fail.
pytestmark = pytest.mark.fuzz


def assert_safe(case: Any, response: Any) -> None:
    status = response.status_code
    where = f"{case.method} {case.formatted_path}"
    if status >= 500:
        assert status == 503, f"{where} answered {status}"
        assert case.path in TALKS_TO_RASA, f"{where} answered 503 without talking to Rasa"
    content_type = (response.headers.get("content-type") or [""])[0]
    if status >= 400 and content_type.startswith("application/json"):
        # Every refusal names what is wrong.
        body = response.json()
        assert body.get("detail") or body.get("error"), f"{where} {status} says nothing: {body}"
    if status < 400 or status == 422:
        case.validate_response(response, checks=CHECKS)


FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same requests on every run: a failure here is reproducible
)


@schema.parametrize()
@FUZZ
def test_no_route_fails_without_credentials(case: Any, hub: Fuzzed) -> None:
    response = case.call(base_url=hub.url, headers={"Authorization": ""}, cookies={})
    assert_safe(case, response)


@schema.parametrize()
@FUZZ
def test_no_route_fails_with_the_api_key_and_a_console_session(case: Any, hub: Fuzzed) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", **hub.console_headers}
    response = case.call(base_url=hub.url, headers=headers, cookies=hub.console_cookies)
    assert_safe(case, response)
