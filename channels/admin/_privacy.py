"""The admin API's personal-data routes (``/admin/privacy/*``), for admins (the admin token or
an admin's console session): a customer's export (a zip) and erasure, their consents, and the
audit log."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bot.privacy import AuditLog, AuditRecord, PersonalData, Subject
from channels.admin._router import AdminCaller, ConsoleAdmin, admin_guard

logger = logging.getLogger(__name__)

PREFIX = "/admin/privacy"


class ErasureIn(BaseModel):
    """Why the customer's data is erased (a few words; never quote a message)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=200, description="e.g. 'customer request'")


class AdminConsentIn(BaseModel):
    """A consent the customer gave or withdrew outside the platform (a signed form, a call),
    recorded by an administrator."""

    model_config = ConfigDict(extra="forbid")

    # Checked by the privacy module, which owns the list of purposes (bot.privacy.PURPOSES).
    purpose: str = Field(min_length=1, max_length=32, description="marketing or personalisation.")
    granted: bool = Field(description="true: opt-in; false: opt-out.")
    channel: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="Where it applies; default: the customer's own channel.",
    )


def build_privacy_router(
    personal_data: PersonalData,
    audit: AuditLog,
    token: str | None,
    console_admin: ConsoleAdmin | None = None,
) -> APIRouter:
    """Export, erase, consents, and read the audit log; each act audited under the caller's
    name (an admin's agent id, or ``admin-api`` for the shared token)."""
    guard = admin_guard(token, console_admin)
    router = APIRouter(prefix=PREFIX, tags=["admin"], dependencies=[Depends(guard)])
    # The route's own parameter reuses the router's check (FastAPI runs a dependency once).
    by = Depends(guard)

    @router.get(
        "/customers/{channel}/{sender}/export",
        response_class=Response,
        responses={200: {"content": {"application/zip": {}}}},
    )
    async def export(
        channel: str,
        sender: str,
        reason: Annotated[str, Query(max_length=200, description="Why it is read.")] = "",
        caller: AdminCaller = by,
    ) -> Response:
        """Everything the platform holds about the customer: ``data.json`` and ``media/``."""
        bundle = await personal_data.export(
            Subject(channel, sender), actor_kind="admin", actor_id=caller.actor_id, reason=reason
        )
        return _zip_response(bundle, channel)

    @router.delete("/customers/{channel}/{sender}")
    async def erase(
        channel: str, sender: str, body: ErasureIn | None = None, caller: AdminCaller = by
    ) -> dict[str, Any]:
        """Erase the customer everywhere; the report counts what went (no personal data)."""
        report = await personal_data.erase(
            Subject(channel, sender),
            actor_kind="admin",
            actor_id=caller.actor_id,
            reason=body.reason if body else "",
        )
        return report.as_json()

    @router.get("/customers/{channel}/{sender}/consents")
    async def consents(channel: str, sender: str, caller: AdminCaller = by) -> dict[str, Any]:
        """The customer's consents: the latest word per purpose and channel, and the history
        (a read of the customer's data: audited)."""
        subject = Subject(channel, sender)
        await audit.record_read(
            "admin", caller.actor_id, "consent.read", subject.key, "admin api: consents"
        )
        current, history = await personal_data.consents(subject)
        return {
            "current": [c.as_json() for c in current],
            "history": [c.as_json() for c in history],
        }

    @router.post("/customers/{channel}/{sender}/consents", status_code=201)
    async def record_consent(
        channel: str, sender: str, body: AdminConsentIn, caller: AdminCaller = by
    ) -> dict[str, Any]:
        """Record an opt-in or opt-out the customer gave outside the platform."""
        consent = await personal_data.record_consent(
            Subject(channel, sender),
            body.purpose,
            body.granted,
            channel=body.channel,
            actor_kind="admin",
            actor_id=caller.actor_id,
        )
        return consent.as_json()

    @router.get("/audit")
    async def audit_log(
        customer_id: Annotated[
            str | None, Query(max_length=128, description="Only this customer's records.")
        ] = None,
        actor_kind: Annotated[
            str | None, Query(max_length=16, description="agent, admin, system or customer.")
        ] = None,
        actor_id: Annotated[
            str | None, Query(max_length=64, description="Only this actor's (an agent's id).")
        ] = None,
        action: Annotated[
            str | None, Query(max_length=64, description="Only this action: conversation.read…")
        ] = None,
        since: Annotated[
            AwareDatetime | None, Query(description="From (with a time zone).")
        ] = None,
        until: Annotated[
            AwareDatetime | None, Query(description="Until, excluded (with a time zone).")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Who read or changed which customer's data, newest first, matching every filter."""
        records = await audit.list(
            customer_id=customer_id,
            actor_kind=actor_kind,
            actor_id=actor_id,
            action=action,
            since=since,
            until=until,
            limit=limit,
        )
        return {"records": [_record_json(r) for r in records]}

    return router


def _record_json(record: AuditRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "at": record.at.isoformat(),
        "actor_kind": record.actor_kind,
        "actor_id": record.actor_id,
        "action": record.action,
        "customer_id": record.customer_id,
        "reason": record.reason,
    }


def _zip_response(bundle: bytes, channel: str) -> Response:
    # The sender may hold any character: the file name says only the channel.
    headers = {"Content-Disposition": f'attachment; filename="personal-data-{channel}.zip"'}
    return Response(bundle, media_type="application/zip", headers=headers)
