"""What the console works with, as the wiring hands it over: only these services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi.security import APIKeyCookie

from bot.conversations import ConversationService
from bot.handoff import AgentDirectory, HandoffService
from bot.media import AttachmentStore
from bot.privacy import AuditLog
from bot.tickets import TicketService

COOKIE = "console_session"
# The double-submit CSRF token: readable by the console's own script, which echoes it in the
# header on every state-changing request; another site can neither read it nor set the header.
CSRF_COOKIE = "console_csrf"
CSRF_HEADER = "X-CSRF-Token"
# The session as the OpenAPI document declares it (FastAPI's cookie scheme, without its own
# errors: the console's dependencies check the session and say what is wrong).
SESSION = APIKeyCookie(
    name=COOKIE,
    auto_error=False,
    scheme_name="ConsoleSession",
    description=f"The console's session cookie, set by POST /console/api/login; a request that "
    f"changes something also sends the header {CSRF_HEADER} with the {CSRF_COOKIE} cookie's value.",
)


@dataclass(frozen=True)
class ConsoleServices:
    """What the console's routes and socket work with; the wiring builds it."""

    conversations: ConversationService
    handoffs: HandoffService
    agents: AgentDirectory
    attachments: AttachmentStore
    session: timedelta
    # The knowledge base's gaps (days, limit), from the insights module.
    knowledge_gaps: Callable[[int, int], Awaitable[dict[str, Any]]]
    # Rasa's tracker of a conversation (the NLU panel).
    tracker: Callable[[str], Awaitable[dict[str, Any]]]
    # Where agents' reads of a customer's data are recorded.
    audit: AuditLog
    # The console is served over https: its cookies get ``Secure``.
    secure_cookies: bool = False
    # Tickets: a ticket's conversation, a conversation turned into a ticket.
    tickets: TicketService | None = None
