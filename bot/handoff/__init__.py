"""Human handoff: requests, the queue, routing to agents, and the agents themselves."""

from bot.handoff._agents import (
    PRESENCES,
    ROLES,
    AgentDirectory,
    AgentProfile,
    LoginThrottle,
    session_key,
)
from bot.handoff._errors import (
    AgentExists,
    HandoffError,
    InvalidCredentials,
    InvalidRequest,
    InvalidTransition,
    LoginThrottled,
    NotAllowed,
    NotFound,
)
from bot.handoff._hours import BusinessHours, InvalidBusinessHours
from bot.handoff._routing import (
    SKILLS,
    AgentLoad,
    Assignment,
    QueuedRequest,
    QueuePosition,
    handoff_reason,
    position_of,
    priority,
    queue_order,
    route,
    skill_for_intent,
)
from bot.handoff._service import HandoffService, HandoffTicket, HandoffView

__all__ = [
    "PRESENCES",
    "ROLES",
    "SKILLS",
    "AgentDirectory",
    "AgentExists",
    "AgentLoad",
    "AgentProfile",
    "Assignment",
    "BusinessHours",
    "HandoffError",
    "HandoffService",
    "HandoffTicket",
    "HandoffView",
    "InvalidBusinessHours",
    "InvalidCredentials",
    "InvalidRequest",
    "InvalidTransition",
    "LoginThrottle",
    "LoginThrottled",
    "NotAllowed",
    "NotFound",
    "QueuePosition",
    "QueuedRequest",
    "handoff_reason",
    "position_of",
    "priority",
    "queue_order",
    "route",
    "session_key",
    "skill_for_intent",
]
