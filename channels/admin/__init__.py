"""The admin API (``/admin/*``): the knowledge base's documents and gaps, customers' personal data
(export, erasure, audit log), for admins: the admin token or an admin's console session."""

from channels.admin._privacy import build_privacy_router
from channels.admin._router import (
    ADMIN_API_ACTOR,
    PREFIX,
    AdminCaller,
    AdminServices,
    ConsoleAdmin,
    build_router,
    upload_limit,
)

__all__ = [
    "ADMIN_API_ACTOR",
    "PREFIX",
    "AdminCaller",
    "AdminServices",
    "ConsoleAdmin",
    "build_privacy_router",
    "build_router",
    "upload_limit",
]
