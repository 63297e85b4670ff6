"""Routes of the widget's files and of the demo page."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")

# The demo page's own content is static; the widget sets customer text only as text.
_DEMO_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self' ws: wss:; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def build_pages() -> tuple[APIRouter, StaticFiles]:
    """The demo page route and the widget's static files (mount them at ``/widget``)."""
    router = APIRouter(tags=["widget"], include_in_schema=False)

    @router.get("/")
    async def demo() -> FileResponse:
        return FileResponse(STATIC / "demo.html", headers=_DEMO_HEADERS)

    return router, StaticFiles(directory=STATIC)
