"""A customer's own requests over their data through the shop (``/api/privacy/*``).

The shop's back end calls these for its logged-in customer, with ``BOT_API_KEY``: that key is
what vouches that the sender is who the request is about (as on ``/api/messages``). Without the
key the routes stay closed: anyone could otherwise read or erase anyone.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from bot.privacy import PersonalData, Subject
from channels.rest._router import CHANNEL

logger = logging.getLogger(__name__)

CUSTOMER_REQUEST = "customer request"


class ErasureRequest(BaseModel):
    """A customer asks for their data to be erased."""

    model_config = ConfigDict(extra="forbid")

    sender: str = Field(min_length=1, max_length=128, description="The customer's id.")


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

    return router
