"""socket.io and HTTP CORS follow ``BOT_WEBCHAT_ORIGINS``: a page on a listed origin opens the
web chat over long-polling in headless Chromium (the handshake carries
``Access-Control-Allow-Origin``, as the published Rasa widgets need); a page on any other origin
is refused; the console's namespace opens from the hub's own pages only."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import socketio
from playwright.sync_api import Browser

from bot.app import create_app
from channels.connector import SocketOrigins, socket_client_address
from tests.browser import browser, playwright
from tests.launch import free_port
from tests.live_hub import hub_settings, serving_in_thread

__all__ = ["browser", "playwright"]  # fixtures

WAIT_S = 20.0
PASSWORD = "correct horse battery"
PAGE = """<!doctype html><meta charset="utf-8"><title>shop</title>
<script src="{hub}/static/vendor/socket.io-4.8.4.min.js"></script>
<script>
  const socket = io("{hub}", {{ transports: ["polling"], reconnection: false }});
  socket.on("connect", () => socket.emit("session_request", {{}}));
  socket.on("session_confirm", (id) => {{
    window.result = "confirmed:" + socket.io.engine.transport.name + ":" + id;
  }});
  socket.on("connect_error", (error) => {{ window.result = "refused:" + error.message; }});
</script>"""


@dataclass
class Sites:
    hub: str
    listed: str
    unlisted: str


def _serve_page(html: str) -> tuple[ThreadingHTTPServer, str]:
    body = html.encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    port = free_port()
    hub_url = f"http://127.0.0.1:{port}"
    listed_server, listed = _serve_page(PAGE.format(hub=hub_url))
    unlisted_server, unlisted = _serve_page(PAGE.format(hub=hub_url))
    settings = hub_settings(
        tmp_path_factory.mktemp("origins"), webchat_origins=f"{listed}/, https://other.example"
    )
    app = create_app(settings)
    asgi = socketio.ASGIApp(app.state.sio, other_asgi_app=app)
    # The pages' long-polling requests are still open when the module ends: without a limit,
    # uvicorn's graceful shutdown waited for them (20 s of every run).
    with serving_in_thread(asgi, WAIT_S, port, timeout_graceful_shutdown=1):
        # A thread of its own: Playwright's sync API holds this thread's event loop.
        with ThreadPoolExecutor(1) as worker:
            worker.submit(asyncio.run, app.state.services.agents.create("olga", PASSWORD)).result()
        yield Sites(hub_url, listed, unlisted)
    for page_server in (listed_server, unlisted_server):
        page_server.shutdown()


def _result(browser: Browser, url: str) -> str:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_function("window.result !== undefined", timeout=WAIT_S * 1000)
        return str(page.evaluate("window.result"))
    finally:
        context.close()


def test_a_page_on_a_listed_origin_chats_over_long_polling(browser: Browser, sites: Sites) -> None:
    result = _result(browser, sites.listed)
    assert result.startswith("confirmed:polling:"), result


def test_a_page_on_another_origin_is_refused(browser: Browser, sites: Sites) -> None:
    assert _result(browser, sites.unlisted).startswith("refused:")


def test_the_polling_handshake_names_only_listed_origins(sites: Sites) -> None:
    handshake = f"{sites.hub}/socket.io/?EIO=4&transport=polling"
    listed = httpx.get(handshake, headers={"Origin": sites.listed})
    assert listed.status_code == 200
    assert listed.headers["access-control-allow-origin"] == sites.listed
    assert "access-control-allow-credentials" not in listed.headers  # no cookies cross-site
    own = httpx.get(handshake, headers={"Origin": sites.hub})
    assert own.status_code == 200
    foreign = httpx.get(handshake, headers={"Origin": sites.unlisted})
    assert foreign.status_code == 400
    assert "access-control-allow-origin" not in foreign.headers
    # The widget's HTTP side (uploads) follows the same list.
    preflight = {"Origin": sites.listed, "Access-Control-Request-Method": "POST"}
    allowed = httpx.options(f"{sites.hub}/webchat/upload", headers=preflight)
    assert allowed.headers.get("access-control-allow-origin") == sites.listed
    refused = httpx.options(
        f"{sites.hub}/webchat/upload", headers={**preflight, "Origin": sites.unlisted}
    )
    assert "access-control-allow-origin" not in refused.headers


def test_socket_origins_and_addresses_come_from_the_asgi_scope() -> None:
    origins = SocketOrigins(["https://shop.example.com"])
    environ = {
        "HTTP_HOST": "hub.example.com",
        "wsgi.url_scheme": "http",  # engine.io's guess
        "asgi.scope": {"scheme": "wss", "client": ("203.0.113.9", 5123)},
        "REMOTE_ADDR": "127.0.0.1",  # engine.io's constant under ASGI
    }
    assert origins("https://shop.example.com", environ)
    assert origins("https://hub.example.com", environ)
    assert not origins("http://hub.example.com", environ)
    assert not origins("https://evil.example", environ)
    assert socket_client_address(environ) == "203.0.113.9"
