"""Reading the apps' webhook bodies safely.

An app's body is JSON in its documented shape, but a field can be absent, null, or (in a new
message type, a changed API version) of another type than documented. The routers read fields
through these helpers, so such a body is ignored instead of answered with a 500, which the apps
take as "redeliver later". Hand-written: a few lines of walking dicts, where glom or jmespath
would add a dependency and a query language for it.
"""

from __future__ import annotations

from typing import Any


def member(value: Any, *path: str) -> Any:
    """The value at ``path`` inside nested JSON objects; None where a step is missing or is not
    an object (``member(update, "message", "chat", "id")``)."""
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def object_at(value: Any, *path: str) -> dict[str, Any]:
    """The JSON object at ``path``; an empty one when it is missing or something else."""
    found = member(value, *path)
    return found if isinstance(found, dict) else {}


def text_at(value: Any, *path: str) -> str:
    """The text at ``path``; "" when it is missing or not a string."""
    found = member(value, *path)
    return found if isinstance(found, str) else ""


def id_at(value: Any, *path: str) -> str | None:
    """An id at ``path`` as text (apps send some as numbers: Telegram's chat ids); None when it is
    missing, empty, or neither a string nor an integer."""
    found = member(value, *path)
    if isinstance(found, bool):
        return None
    if isinstance(found, int):
        return str(found)
    return found if isinstance(found, str) and found else None
