"""The admin API (``/admin/*``): the knowledge base's documents and gaps, customers' personal data
(export, erasure, audit log), behind the admin token."""

from channels.admin._privacy import build_privacy_router
from channels.admin._router import PREFIX, AdminServices, build_router, upload_limit

__all__ = ["PREFIX", "AdminServices", "build_privacy_router", "build_router", "upload_limit"]
