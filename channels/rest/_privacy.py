"""A customer's own requests over their data through the shop (``/api/privacy/*``): export,
erasure, and their consents (the opt-ins marketing and personalised recommendations need); and
the download of the export a customer asked for in the chat (``/privacy/download/<token>``).

The shop's back end calls these for its logged-in customer, with ``BOT_API_KEY``: that key is
what vouches that the sender is who the request is about (as on ``/api/messages``). Without the
key the routes stay closed: anyone could otherwise read or erase anyone.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from bot.privacy import ChatRequests, Consent, ExportLinkRefused, PersonalData, Subject
from channels.connector import MINUTE, Quota, RateLimiter, client_address, status_of
from channels.rest._router import CHANNEL

logger = logging.getLogger(__name__)

CUSTOMER_REQUEST = "customer request"


class ErasureRequest(BaseModel):
    """A customer asks for their data to be erased."""

    model_config = ConfigDict(extra="forbid")

    sender: str = Field(min_length=1, max_length=128, description="The customer's id.")


class ConsentIn(BaseModel):
    """The customer's choice, as they made it in the shop (a settings page, a checkbox at
    sign-up): an opt-in (``granted``) or an opt-out for a purpose on a channel."""

    model_config = ConfigDict(extra="forbid")

    sender: str = Field(min_length=1, max_length=128, description="The customer's id.")
    # Checked by the privacy module, which owns the list of purposes (bot.privacy.PURPOSES).
    purpose: str = Field(min_length=1, max_length=32, description="marketing or personalisation.")
    channel: str = Field(
        min_length=1,
        max_length=32,
        description="Where it applies: rest, webchat, email, wechat, ...",
    )
    granted: bool = Field(description="true: opt-in; false: opt-out.")


class ConsentOut(BaseModel):
    """One recorded consent or revocation."""

    customer_id: str
    purpose: str
    channel: str
    granted: bool
    actor_kind: str
    recorded_at: str

    @classmethod
    def of(cls, consent: Consent) -> ConsentOut:
        return cls.model_validate(consent.as_json())


class ConsentsOut(BaseModel):
    """The latest word per purpose and channel, and the whole history, oldest first."""

    current: list[ConsentOut]
    history: list[ConsentOut]


def build_privacy_router(
    personal_data: PersonalData, vouch: Callable[[Request], Awaitable[None]]
) -> APIRouter:
    """``GET /api/privacy/export`` (a zip) and ``POST /api/privacy/erase`` (a JSON report);
    ``vouch`` checks the shop's API key (or refuses when none is set)."""
    router = APIRouter(prefix="/api/privacy", tags=["privacy"], dependencies=[Depends(vouch)])

    @router.get(
        "/export",
        response_class=Response,
        responses={200: {"content": {"application/zip": {}}}},
    )
    async def export(
        sender: Annotated[str, Query(min_length=1, max_length=128, description="Customer id.")],
    ) -> Response:
        """Everything the platform holds about the customer, as a zip."""
        bundle = await personal_data.export(
            Subject(CHANNEL, sender), actor_kind="customer", reason=CUSTOMER_REQUEST
        )
        return Response(
            bundle,
            media_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="my-data.zip"'},
        )

    @router.post("/erase")
    async def erase(request: ErasureRequest) -> dict[str, Any]:
        """Erase the customer's data everywhere; what stays is said in the README."""
        report = await personal_data.erase(
            Subject(CHANNEL, request.sender), actor_kind="customer", reason=CUSTOMER_REQUEST
        )
        return report.as_json()

    @router.get("/consents")
    async def consents(
        sender: Annotated[str, Query(min_length=1, max_length=128, description="Customer id.")],
    ) -> ConsentsOut:
        """The customer's consents (for the shop's privacy settings page)."""
        current, history = await personal_data.consents(Subject(CHANNEL, sender))
        return ConsentsOut(
            current=[ConsentOut.of(c) for c in current],
            history=[ConsentOut.of(c) for c in history],
        )

    @router.post("/consents", status_code=201)
    async def record_consent(request: ConsentIn) -> ConsentOut:
        """Record the customer's opt-in or opt-out; the history keeps every earlier word."""
        consent = await personal_data.record_consent(
            Subject(CHANNEL, request.sender),
            request.purpose,
            request.granted,
            channel=request.channel,
            actor_kind="customer",
        )
        logger.info(
            "A customer %s %s on %s through the shop",
            "granted" if consent.granted else "revoked",
            consent.purpose,
            consent.channel,
        )
        return ConsentOut.of(consent)

    return router


# An export is the heaviest read a stranger can ask for: a few a minute from one address.
DOWNLOADS = Quota(10, MINUTE, "export downloads a minute from one address")
DownloadToken = Annotated[str, Path(min_length=1, max_length=1000)]
# No script, no resource from anywhere, the form posts only here, the token leaks nowhere.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_TITLE = "下载我的数据 · Download my data"


def build_download_router(requests: ChatRequests, limiter: RateLimiter) -> APIRouter:
    """``/privacy/download/<token>``: the link a customer got in the chat for their export,
    open to whoever holds it (the token is the only key, for 15 minutes). GET shows a page with
    one button, and POST downloads the zip: the apps' link previews and mail scanners fetch
    links, and must not make (and audit) an export nobody asked for."""
    router = APIRouter(tags=["privacy"])

    @router.get("/privacy/download/{token}", response_class=HTMLResponse)
    async def download_page(token: DownloadToken, request: Request) -> HTMLResponse:
        """A page with the download button; 403 or 410 (with why) for a link that opens
        nothing."""
        await limiter.check((DOWNLOADS, client_address(request)))
        try:
            requests.check_link(token)
        except ExportLinkRefused as exc:
            return _refusal(exc)
        action = html.escape(f"/privacy/download/{token}", quote=True)
        button = "<button>下载 · Download (zip)</button>"
        form = f'<form method="post" action="{action}">{button}</form>'
        return HTMLResponse(_page(_TITLE, form), headers=_PAGE_HEADERS)

    @router.post(
        "/privacy/download/{token}",
        response_class=Response,
        responses={200: {"content": {"application/zip": {}}}},
    )
    async def download(token: DownloadToken, request: Request) -> Response:
        """The customer's export as a zip (audited as their own export); 403 or 410 for a link
        that opens nothing, and then nothing is exported."""
        await limiter.check((DOWNLOADS, client_address(request)))
        try:
            bundle = await requests.download(token)
        except ExportLinkRefused as exc:
            return _refusal(exc)
        return Response(
            bundle,
            media_type="application/zip",
            headers={
                "Content-Disposition": 'attachment; filename="my-data.zip"',
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
            },
        )

    return router


def _refusal(exc: ExportLinkRefused) -> HTMLResponse:
    """The page a customer's browser shows for a link that opens nothing, with the status the
    one map gives it (410 expired, 403 not valid)."""
    status, _reason = status_of(exc)
    return HTMLResponse(_page(html.escape(str(exc)), ""), status_code=status, headers=_PAGE_HEADERS)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_TITLE}</title></head><body><p>{title}</p>{body}</body></html>"
    )
