"""``/api/tickets`` on a small FastAPI app built here around the router and a real database
(SQLite in tmp_path; one test on a private PostgreSQL)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI, Header, HTTPException

from bot.handoff import BusinessHours
from bot.storage import Database
from bot.tickets import TicketConfig, TicketService
from channels.rest import TicketCaller, build_tickets_router, csv_cell

# API keys of the test: key -> (caller, scopes)
KEYS: dict[str, tuple[TicketCaller, set[str]]] = {
    "agent-key": (TicketCaller("agent:amy"), {"tickets:read", "tickets:write"}),
    "reader-key": (TicketCaller("report:bi"), {"tickets:read"}),
    "lead-key": (TicketCaller("agent:lead", supervisor=True), {"tickets:read", "tickets:write"}),
    "customer-key": (
        TicketCaller("customer:c1", customer_id="c1"),
        {"tickets:read", "tickets:write"},
    ),
}
AGENT = {"X-API-Key": "agent-key"}
LEAD = {"X-API-Key": "lead-key"}
CUSTOMER = {"X-API-Key": "customer-key"}


def authorize(scope: str) -> Callable[..., Any]:
    async def caller(x_api_key: Annotated[str | None, Header()] = None) -> TicketCaller:
        if x_api_key is None or x_api_key not in KEYS:
            raise HTTPException(401, detail="send a valid X-API-Key")
        who, scopes = KEYS[x_api_key]
        if scope not in scopes:
            raise HTTPException(403, detail=f"this key lacks the {scope} scope")
        return who

    return caller


def make_app(database: Database) -> FastAPI:
    hours = BusinessHours.parse("00:00-24:00", "Asia/Shanghai")
    service = TicketService(database, TicketConfig(hours=hours))
    app = FastAPI()
    app.include_router(build_tickets_router(service, authorize))
    return app


async def client_for(url: str) -> AsyncIterator[httpx.AsyncClient]:
    database = Database(url)
    await database.migrate()
    transport = httpx.ASGITransport(app=make_app(database))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        yield client
    database.dispose()


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for c in client_for(f"sqlite:///{tmp_path}/hub.db"):
        yield c


def body(**changes: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "customer_id": "c1",
        "subject": "Parcel not arrived",
        "description": "Order 1001 is late",
        "category": "delivery",
    }
    fields.update(changes)
    return fields


async def create(client: httpx.AsyncClient, **changes: object) -> dict[str, Any]:
    response = await client.post("/api/tickets", json=body(**changes), headers=AGENT)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_create_is_idempotent_with_a_key(client: httpx.AsyncClient) -> None:
    headers = {**AGENT, "Idempotency-Key": "order-1001-late"}
    first = await client.post("/api/tickets", json=body(), headers=headers)
    assert first.status_code == 201
    ticket = first.json()
    assert (first.headers["location"], first.headers["etag"]) == (
        f"/api/tickets/{ticket['number']}",
        '"1"',
    )
    assert {
        k: ticket[k]
        for k in ("status", "priority", "team", "assignee", "tags", "version", "sla_state")
    } == {
        "status": "new",
        "priority": "P3",
        "team": "general",
        "assignee": None,
        "tags": [],
        "version": 1,
        "sla_state": "ok",
    }
    again = await client.post("/api/tickets", json=body(), headers=headers)
    assert (again.status_code, again.json()) == (200, ticket)
    other = await client.post("/api/tickets", json=body(subject="Other"), headers=headers)
    assert other.status_code == 422
    assert other.json() == {
        "detail": {
            "error": "idempotency_key_reused",
            "message": f"Idempotency-Key 'order-1001-late' was used for ticket {ticket['number']} "
            "with a different body; use a new key for a new ticket",
        }
    }


@pytest.mark.parametrize(
    ("changes", "loc", "message"),
    [
        ({"category": "shoes"}, ["body", "category"], "Input should be 'order'"),
        ({"priority": "P0"}, ["body", "priority"], "Input should be 'P1'"),
        ({"sentiment": 2}, ["body", "sentiment"], "Input should be less than or equal to 1"),
        ({"subject": ""}, ["body", "subject"], "String should have at least 1 character"),
        ({"colour": "red"}, ["body", "colour"], "Extra inputs are not permitted"),
        ({"team": "billing"}, ["body", "team"], "Input should be 'orders'"),
    ],
)
async def test_bad_bodies_name_the_field(
    client: httpx.AsyncClient, changes: dict[str, object], loc: list[str], message: str
) -> None:
    response = await client.post("/api/tickets", json=body(**changes), headers=AGENT)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == loc
    assert error["msg"].startswith(message)
    listed = await client.get("/api/tickets", headers=AGENT)
    assert listed.json()["total"] == 0


async def test_domain_errors_are_422_with_the_reason(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/tickets", json=body(subject="   "), headers=AGENT)
    assert (response.status_code, response.json()) == (
        422,
        {"detail": {"error": "invalid_ticket", "message": "subject is empty; write something"}},
    )


@pytest.mark.parametrize(
    ("headers", "method", "status"),
    [
        ({}, "GET", 401),
        ({"X-API-Key": "stolen"}, "GET", 401),
        ({"X-API-Key": "reader-key"}, "POST", 403),
        ({"X-API-Key": "reader-key"}, "GET", 200),
    ],
)
async def test_scopes(
    client: httpx.AsyncClient, headers: dict[str, str], method: str, status: int
) -> None:
    response = await client.request(
        method, "/api/tickets", headers=headers, json=body() if method == "POST" else None
    )
    assert response.status_code == status


async def test_list_filters_sort_and_pages(client: httpx.AsyncClient) -> None:
    a = await create(client, subject="包裹没到", description="快递一周没更新")
    b = await create(client, subject="Refund please", category="return_refund", customer_id="c2")
    c = await create(client, subject="Card charged twice", category="payment", team="refunds")
    await client.patch(
        f"/api/tickets/{b['number']}", json={"assignee": "bob", "version": 1}, headers=AGENT
    )

    async def numbers(params: dict[str, Any]) -> list[str]:
        response = await client.get("/api/tickets", params=params, headers=AGENT)
        assert response.status_code == 200, response.text
        return [t["number"] for t in response.json()["items"]]

    assert await numbers({"sort": "created_at"}) == [a["number"], b["number"], c["number"]]
    assert await numbers({"q": "包裹", "status": ["new", "open"]}) == [a["number"]]
    assert await numbers({"assignee": "bob"}) == [b["number"]]
    assert await numbers({"team": "refunds", "priority": ["P2"], "category": "payment"}) == [
        c["number"]
    ]
    assert await numbers({"customer_id": "c2", "sla_state": "ok"}) == [b["number"]]
    assert await numbers({"unassigned": "true", "sort": "-created_at"}) == [
        c["number"],
        a["number"],
    ]
    page = (
        await client.get("/api/tickets", params={"limit": 2, "sort": "number"}, headers=AGENT)
    ).json()
    assert ([t["number"] for t in page["items"]], page["total"], page["next_offset"]) == (
        [a["number"], b["number"]],
        3,
        2,
    )


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"status": "done"}, ["status", 0], "Input should be 'new'"),
        ({"sla_state": "late"}, ["sla_state"], "Input should be 'ok'"),
        ({"sort": "colour"}, ["sort"], "Input should be 'created_at'"),
        ({"limit": 0}, ["limit"], "Input should be greater than or equal to 1"),
        ({"created_from": "yesterday"}, ["created_from"], "Input should be a valid datetime"),
    ],
)
async def test_bad_filters_name_the_parameter(
    client: httpx.AsyncClient, params: dict[str, Any], field: list[object], message: str
) -> None:
    response = await client.get("/api/tickets", params=params, headers=AGENT)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", *field]
    assert error["msg"].startswith(message)


async def test_naive_time_filter_says_what_to_add(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/tickets", params={"created_from": "2026-12-01T00:00:00"}, headers=AGENT
    )
    assert (response.status_code, response.json()["detail"]["message"]) == (
        422,
        "created_from needs a time zone, like 2026-12-02T08:00:00+08:00",
    )


async def test_customer_key_sees_only_its_tickets_and_no_notes(client: httpx.AsyncClient) -> None:
    mine = await create(client)
    theirs = await create(client, customer_id="c2")
    await client.post(
        f"/api/tickets/{mine['number']}/notes", json={"text": "internal"}, headers=AGENT
    )
    await client.post(
        f"/api/tickets/{mine['number']}/replies", json={"text": "On it"}, headers=AGENT
    )
    detail = (await client.get(f"/api/tickets/{mine['number']}", headers=CUSTOMER)).json()
    assert [(e["kind"], e["text"]) for e in detail["entries"]] == [("reply", "On it")]
    assert detail["history"] == []
    foreign = await client.get(f"/api/tickets/{theirs['number']}", headers=CUSTOMER)
    missing = await client.get("/api/tickets/T-20200101-0001", headers=CUSTOMER)
    assert (foreign.status_code, missing.status_code) == (404, 404)
    assert (
        foreign.json()["detail"]["error"] == missing.json()["detail"]["error"] == "ticket_not_found"
    )
    listed = (
        await client.get("/api/tickets", params={"customer_id": "c2"}, headers=CUSTOMER)
    ).json()
    assert [t["number"] for t in listed["items"]] == [mine["number"]]
    refused = await client.post(
        f"/api/tickets/{mine['number']}/replies", json={"text": "hi"}, headers=CUSTOMER
    )
    assert (refused.status_code, refused.json()["detail"]["message"]) == (
        403,
        "a customer's key may not reply",
    )
    added = await client.post(
        f"/api/tickets/{mine['number']}/customer-messages",
        json={"text": "Tracking SF1"},
        headers=CUSTOMER,
    )
    assert added.status_code == 200
    not_mine = await client.post(
        f"/api/tickets/{theirs['number']}/customer-messages", json={"text": "x"}, headers=CUSTOMER
    )
    assert not_mine.status_code == 404


async def test_patch_needs_the_version_and_refuses_stale_writes(client: httpx.AsyncClient) -> None:
    ticket = await create(client)
    url = f"/api/tickets/{ticket['number']}"
    missing = await client.patch(url, json={"assignee": "amy"}, headers=AGENT)
    assert missing.status_code == 428
    assert missing.json()["detail"]["error"] == "version_required"
    bad = await client.patch(url, json={"assignee": "amy"}, headers={**AGENT, "If-Match": "latest"})
    assert bad.status_code == 422
    assert (
        bad.json()["detail"]["message"]
        == "If-Match 'latest' is not a ticket version like \"3\" (the ETag you read)"
    )
    etag = (await client.get(url, headers=AGENT)).headers["etag"]
    first = await client.patch(url, json={"assignee": "amy"}, headers={**AGENT, "If-Match": etag})
    assert (first.status_code, first.headers["etag"], first.json()["assignee"]) == (
        200,
        '"2"',
        "amy",
    )
    stale = await client.patch(url, json={"assignee": "bob"}, headers={**AGENT, "If-Match": etag})
    assert stale.status_code == 409
    assert stale.json() == {
        "detail": {
            "error": "stale_version",
            "message": f"ticket {ticket['number']} is at version 2, not 1: someone changed it meanwhile; "
            "read it again and redo your change",
        }
    }
    wrong = await client.patch(url, json={"status": "reopened", "version": 2}, headers=AGENT)
    assert (wrong.status_code, wrong.json()["detail"]["error"]) == (409, "invalid_status_change")
    assert "cannot go from new to reopened" in wrong.json()["detail"]["message"]
    detail = (await client.get(url, headers=AGENT)).json()
    assert (detail["ticket"]["assignee"], detail["ticket"]["version"]) == ("amy", 2)
    assert detail["history"][-1] == {
        "actor": "agent:amy",
        "field": "assignee",
        "old": None,
        "new": "amy",
        "at": detail["ticket"]["updated_at"],
    }


async def test_reply_resolve_rate_and_merge(client: httpx.AsyncClient) -> None:
    ticket = await create(client)
    other = await create(client, subject="Also late")
    url = f"/api/tickets/{ticket['number']}"
    replied = await client.post(f"{url}/replies", json={"text": "Sorry, resending"}, headers=AGENT)
    assert replied.json()["status"] == "open"
    resolved = await client.patch(url, json={"status": "resolved", "version": 2}, headers=AGENT)
    assert resolved.json()["status"] == "resolved"
    rated = await client.put(f"{url}/satisfaction", json={"score": 4}, headers=CUSTOMER)
    assert rated.json()["satisfaction"] == 4
    too_high = await client.put(f"{url}/satisfaction", json={"score": 9}, headers=CUSTOMER)
    assert too_high.status_code == 422
    merged = await client.post(
        f"/api/tickets/{other['number']}/merge", json={"into": ticket["number"]}, headers=AGENT
    )
    assert (merged.status_code, merged.json()["number"]) == (200, ticket["number"])
    source = (await client.get(f"/api/tickets/{other['number']}", headers=AGENT)).json()["ticket"]
    assert (source["status"], source["merged_into"]) == ("closed", ticket["number"])
    again = await client.post(
        f"/api/tickets/{other['number']}/merge", json={"into": ticket["number"]}, headers=AGENT
    )
    assert (again.status_code, again.json()["detail"]["error"]) == (409, "invalid_status_change")


async def test_bulk_changes_report_each_ticket(client: httpx.AsyncClient) -> None:
    first = await create(client)
    second = await create(client, customer_id="c2")
    answer = await client.post(
        "/api/tickets/bulk",
        json={
            "numbers": [first["number"], second["number"], "T-20990101-0001"],
            "versions": {second["number"].lower(): 1},
            "status": "pending_customer",
            "assignee": "amy",
        },
        headers=AGENT,
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["changed"], result["refused"]) == (2, 1)
    assert [(r["number"], r["error"]) for r in result["results"]] == [
        (first["number"], None),
        (second["number"], None),
        ("T-20990101-0001", "no ticket T-20990101-0001"),
    ]
    assert {r["ticket"]["status"] for r in result["results"][:2]} == {"pending_customer"}
    # The second one is at version 2 now: a bulk change with the version read before is refused.
    stale = await client.post(
        "/api/tickets/bulk",
        json={"numbers": [second["number"]], "versions": {second["number"]: 1}, "team": "sales"},
        headers=AGENT,
    )
    assert stale.json()["results"][0]["error"].startswith(
        f"ticket {second['number']} is at version 2, not 1"
    )


@pytest.mark.parametrize(
    ("payload", "headers", "status", "message"),
    [
        ({"numbers": [], "status": "open"}, AGENT, 422, "numbers"),
        ({"numbers": ["T-20261202-0001"]}, AGENT, 422, "nothing to change"),
        ({"numbers": ["T-20261202-0001"], "status": "done"}, AGENT, 422, "status"),
        ({"numbers": ["<script>"], "status": "open"}, AGENT, 422, "is not like T-"),
        ({"numbers": ["T-20261202-0001"], "subject": "x"}, AGENT, 422, "subject"),
        ({"numbers": ["T-20261202-0001"], "status": "open"}, CUSTOMER, 403, "may not"),
        (
            {"numbers": ["T-20261202-0001"], "status": "open"},
            {"X-API-Key": "reader-key"},
            403,
            "scope",
        ),
    ],
)
async def test_bad_bulk_requests(
    client: httpx.AsyncClient,
    payload: dict[str, object],
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    answer = await client.post("/api/tickets/bulk", json=payload, headers=headers)
    assert answer.status_code == status
    assert message in answer.text


async def test_only_a_supervisor_forces_a_merge_of_two_customers_tickets(
    client: httpx.AsyncClient,
) -> None:
    mine = await create(client)
    theirs = await create(client, customer_id="c2")
    url = f"/api/tickets/{mine['number']}/merge"
    plain = await client.post(url, json={"into": theirs["number"]}, headers=AGENT)
    assert plain.status_code == 422
    assert "different customers" in plain.json()["detail"]["message"]
    forced = await client.post(url, json={"into": theirs["number"], "force": True}, headers=AGENT)
    assert forced.status_code == 403
    assert forced.json()["detail"]["message"] == (
        "only a supervisor may merge different customers' tickets (force)"
    )
    assert (await client.get(f"/api/tickets/{mine['number']}", headers=AGENT)).json()["ticket"][
        "status"
    ] == "new"
    done = await client.post(url, json={"into": theirs["number"], "force": True}, headers=LEAD)
    assert (done.status_code, done.json()["number"]) == (200, theirs["number"])


async def test_sla_per_team(client: httpx.AsyncClient) -> None:
    await create(client, team="orders")
    await create(client, team="orders")
    answer = await client.get(
        "/api/tickets/sla",
        params={"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"},
        headers=AGENT,
    )
    assert answer.status_code == 200, answer.text
    orders = next(row for row in answer.json() if row["team"] == "orders")
    assert orders == {
        "team": "orders",
        "tickets": 2,
        "met": 0,
        "breached": 0,
        "first_response_breached": 0,
        "resolution_breached": 0,
        "open_now": 2,
        "compliance": None,
    }
    naive = await client.get(
        "/api/tickets/sla",
        params={"since": "2026-01-01T00:00:00", "until": "2026-02-01T00:00:00Z"},
        headers=AGENT,
    )
    assert (naive.status_code, naive.json()["detail"]["message"]) == (
        422,
        "since and until need a time zone",
    )
    customer = await client.get(
        "/api/tickets/sla",
        params={"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"},
        headers=CUSTOMER,
    )
    assert customer.status_code == 403


async def test_csv_export_is_formula_safe(client: httpx.AsyncClient) -> None:
    await create(client, subject='=HYPERLINK("http://evil")', tags=["@vip"])
    await create(client, subject="发票问题, 急", customer_id="-c3")
    response = await client.get(
        "/api/tickets/export.csv", params={"sort": "created_at"}, headers=AGENT
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    assert [(r["subject"], r["tags"], r["customer_id"]) for r in rows] == [
        ('\'=HYPERLINK("http://evil")', "'@vip", "c1"),
        ("发票问题, 急", "", "'-c3"),
    ]
    assert rows[0]["status"] == "new"
    assert rows[0]["priority"] == "P3"
    bad = await client.get("/api/tickets/export.csv", params={"status": "done"}, headers=AGENT)
    assert bad.status_code == 422


async def test_csv_export_pages_through_everything(client: httpx.AsyncClient) -> None:
    for i in range(205):
        await create(client, subject=f"ticket {i}")
    response = await client.get(
        "/api/tickets/export.csv", params={"sort": "created_at"}, headers=AGENT
    )
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8")[1:])))
    assert [r["subject"] for r in rows] == [f"ticket {i}" for i in range(205)]


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("plain", "plain"),
        (None, ""),
        (3, "3"),
        (("a", "b"), "a, b"),
        (datetime(2026, 12, 2, tzinfo=UTC), "2026-12-02T00:00:00+00:00"),
    ],
)
def test_csv_cell(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


async def test_on_postgresql(postgres_url: str) -> None:
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(
        postgres_url.replace("postgresql+psycopg", "postgresql"), autocommit=True
    ) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    async for client in client_for(postgres_url.rsplit("/", 1)[0] + f"/{name}"):
        headers = {**AGENT, "Idempotency-Key": "pg-1"}
        first = await client.post(
            "/api/tickets", json=body(subject="退款没有到账"), headers=headers
        )
        again = await client.post(
            "/api/tickets", json=body(subject="退款没有到账"), headers=headers
        )
        assert (first.status_code, again.status_code, again.json()) == (201, 200, first.json())
        english = await create(client, subject="Refund MISSING")
        number = first.json()["number"]
        found = await client.get(
            "/api/tickets", params={"q": "退款", "status": "new"}, headers=AGENT
        )
        assert [t["number"] for t in found.json()["items"]] == [number]
        found = await client.get("/api/tickets", params={"q": "missing"}, headers=AGENT)
        assert [t["number"] for t in found.json()["items"]] == [english["number"]]
        url = f"/api/tickets/{number}"
        ok = await client.patch(url, json={"priority": "P1"}, headers={**AGENT, "If-Match": '"1"'})
        stale = await client.patch(
            url, json={"priority": "P2"}, headers={**AGENT, "If-Match": '"1"'}
        )
        assert (ok.status_code, stale.status_code) == (200, 409)
        exported = await client.get("/api/tickets/export.csv", headers=AGENT)
        assert exported.content.decode("utf-8").count("\n") == 3


def test_openapi_documents_every_route(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path}/hub.db")
    try:
        schema = make_app(database).openapi()
    finally:
        database.dispose()
    routes = {(path, method) for path, methods in schema["paths"].items() for method in methods}
    assert routes == {
        ("/api/tickets", "post"),
        ("/api/tickets", "get"),
        ("/api/tickets/export.csv", "get"),
        ("/api/tickets/sla", "get"),
        ("/api/tickets/bulk", "post"),
        ("/api/tickets/{number}", "get"),
        ("/api/tickets/{number}", "patch"),
        ("/api/tickets/{number}/replies", "post"),
        ("/api/tickets/{number}/notes", "post"),
        ("/api/tickets/{number}/customer-messages", "post"),
        ("/api/tickets/{number}/merge", "post"),
        ("/api/tickets/{number}/satisfaction", "put"),
    }
    post = schema["paths"]["/api/tickets"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TicketIn"
    }
    assert {p["name"] for p in post["parameters"]} == {"idempotency-key", "x-api-key"}
