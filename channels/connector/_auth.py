"""Bearer tokens: the shop's API key and the admin token are checked the same way."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request


def bearer_guard(
    expected: str | None, *, wrong: str, unset: str | None = None
) -> Callable[[Request], Awaitable[None]]:
    """A dependency that checks ``Authorization: Bearer <expected>`` in constant time; 401 with
    ``wrong`` when it is missing or wrong, 503 with ``unset`` when no token is configured."""

    async def guard(request: Request) -> None:
        if not expected:
            raise HTTPException(status_code=503, detail=unset or "this API is not configured")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given, expected):
            raise HTTPException(
                status_code=401, detail=wrong, headers={"WWW-Authenticate": "Bearer"}
            )

    return guard
