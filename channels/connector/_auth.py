"""Bearer tokens: the shop's API key and the admin token are checked the same way."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

# The shop's back end: ``BOT_API_KEY`` as a bearer token (declared in the OpenAPI document).
API_KEY = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="BOT_API_KEY, sent as 'Authorization: Bearer <key>' (the shop's back end).",
)


def bearer_guard(
    expected: str | None, *, wrong: str, declared: HTTPBearer, unset: str | None = None
) -> Callable[..., Awaitable[None]]:
    """A dependency that checks ``Authorization: Bearer <expected>`` in constant time; 401 with
    ``wrong`` when it is missing or wrong, 503 with ``unset`` when no token is configured.

    The routes it guards declare the security scheme ``declared`` in the OpenAPI document
    (FastAPI's ``HTTPBearer`` without its own errors: the check and its messages are here)."""

    # The default, not ``Annotated``: the scheme is this call's argument, which a string
    # annotation (``from __future__ import annotations``) could not name. Called directly
    # (``await guard(request)``), it is unused.
    async def guard(
        request: Request,
        _declared: HTTPAuthorizationCredentials | None = Security(declared),  # noqa: B008
    ) -> None:
        if not expected:
            raise HTTPException(status_code=503, detail=unset or "this API is not configured")
        kind, _, given = request.headers.get("authorization", "").partition(" ")
        if kind.lower() != "bearer" or not secrets.compare_digest(given, expected):
            raise HTTPException(
                status_code=401, detail=wrong, headers={"WWW-Authenticate": "Bearer"}
            )

    return guard
