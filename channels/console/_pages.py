"""The console's web pages: static HTML, JavaScript and CSS served by the hub."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")


def build_pages() -> tuple[APIRouter, StaticFiles]:
    """The page routes and the static files app (mount it at /console/static)."""
    router = APIRouter(tags=["console"], include_in_schema=False)

    @router.get("/console")
    async def console() -> FileResponse:
        return FileResponse(STATIC / "console.html", headers=_SECURITY_HEADERS)

    @router.get("/console/supervisor")
    async def supervisor() -> FileResponse:
        return FileResponse(STATIC / "supervisor.html", headers=_SECURITY_HEADERS)

    @router.get("/console/tickets")
    async def tickets() -> FileResponse:
        return FileResponse(STATIC / "tickets.html", headers=_SECURITY_HEADERS)

    @router.get("/console/privacy")
    async def privacy() -> FileResponse:
        return FileResponse(STATIC / "privacy.html", headers=_SECURITY_HEADERS)

    @router.get("/console/marketing")
    async def marketing() -> FileResponse:
        return FileResponse(STATIC / "marketing.html", headers=_SECURITY_HEADERS)

    return router, StaticFiles(directory=STATIC)


# Customer text is only ever set as text in the page, and no script may come from elsewhere.
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
