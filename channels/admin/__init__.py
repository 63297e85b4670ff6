"""The admin API (``/admin/*``): the knowledge base's documents and gaps, behind the admin token."""

from channels.admin._router import PREFIX, AdminServices, build_router, upload_limit

__all__ = ["PREFIX", "AdminServices", "build_router", "upload_limit"]
