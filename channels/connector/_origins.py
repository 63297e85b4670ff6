"""Which web pages may open the hub's sockets: the hub's own, and the sites of
``BOT_WEBCHAT_ORIGINS`` that embed the chat widget."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

_HTTP_SCHEME = {"ws": "http", "wss": "https"}


def request_origin(environ: Mapping[str, Any]) -> str | None:
    """The origin the request itself was made to (``scheme://host:port``); a socket opened by
    the hub's own pages names this origin."""
    host = environ.get("HTTP_HOST")
    if not host:
        return None
    # The ASGI scope's scheme (uvicorn's, with a trusted proxy's X-Forwarded-Proto applied);
    # engine.io's own wsgi.url_scheme takes that header from anyone.
    scope = environ.get("asgi.scope") or {}
    scheme = str(scope.get("scheme") or environ.get("wsgi.url_scheme", "http"))
    return f"{_HTTP_SCHEME.get(scheme, scheme)}://{host}"


def socket_client_address(environ: Mapping[str, Any]) -> str | None:
    """The address of a socket's client. engine.io's ``REMOTE_ADDR`` is always 127.0.0.1 under
    ASGI; the scope has the real one (a trusted proxy's X-Forwarded-For applied by uvicorn)."""
    client = (environ.get("asgi.scope") or {}).get("client")
    return str(client[0]) if client else None


def same_origin(environ: Mapping[str, Any]) -> bool:
    """Whether a socket's request comes from the hub's own pages (or from no page at all: a
    server-side client sends no ``Origin``)."""
    origin = environ.get("HTTP_ORIGIN")
    return origin is None or origin == request_origin(environ)


class SocketOrigins:
    """socket.io's ``cors_allowed_origins``: the hub's own origin and the listed ones. A listed
    origin's polling handshake gets ``Access-Control-Allow-Origin``; any other is refused."""

    def __init__(self, listed: Iterable[str]) -> None:
        self.listed = frozenset(listed)

    def __call__(self, origin: str | None, environ: Mapping[str, Any]) -> bool:
        if origin is None:
            return True
        return origin in self.listed or origin == request_origin(environ)
