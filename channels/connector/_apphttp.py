"""What the apps' JSON APIs share: an answer read as a JSON object (or a ``SendFailed`` saying
why not), a customer's file streamed to disk with a size limit, and a stored message as plain
text for apps without buttons."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from bot.media import UploadTooLarge
from bot.outbox import SendFailed
from channels.connector._cards import card_lines, cards_of

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def json_object(response: httpx.Response, app: str) -> dict[str, Any]:
    """The answer's JSON object; ``SendFailed`` on a server error or anything else."""
    if response.status_code >= 500:
        raise SendFailed(f"{app}'s API answered HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError as exc:
        raise SendFailed(f"{app}'s API answered no JSON (HTTP {response.status_code})") from exc
    if not isinstance(data, dict):
        raise SendFailed(f"{app}'s API answered JSON that is not an object")
    return data


async def download(
    http: httpx.AsyncClient,
    url: str,
    params: dict[str, str],
    folder: Path,
    *,
    name: str,
    max_bytes: int,
    app: str,
    headers: dict[str, str] | None = None,
) -> Path | dict[str, Any]:
    """Stream a file into ``folder``; the app's JSON error instead when it sends one.
    ``UploadTooLarge`` as soon as the file passes ``max_bytes`` (the rest is not read)."""
    async with http.stream("GET", url, params=params, headers=headers) as response:
        if response.status_code >= 400:
            raise SendFailed(f"{app}'s media API answered HTTP {response.status_code}")
        kind = response.headers.get("content-type", "")
        if kind.startswith(("application/json", "text/plain")):
            await response.aread()
            return json_object(response, app)
        path = folder / _filename(response.headers.get("content-disposition", ""), name)
        size = 0
        with path.open("wb") as out:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLarge(f"the file is larger than the limit of {max_bytes} bytes")
                out.write(chunk)
        return path


def _filename(disposition: str, fallback: str) -> str:
    """The file's name from ``Content-Disposition``, made safe for the disk; else ``fallback``."""
    found = re.search(r'filename="?([^";]+)"?', disposition)
    name = found.group(1) if found else fallback
    return SAFE_NAME.sub("_", Path(name).name)[-100:] or "media"


def numbered_text(text: str, payload: dict[str, Any] | None, limit: int) -> str:
    """A stored message as plain text for an app without buttons: an image as a link line, the
    buttons and recommendation cards' buttons as numbered choices (the customer answers with the
    number, which the contract turns into the button's payload); other custom content is left
    out."""
    payload = payload or {}
    lines = [text] if text else []
    image = payload.get("image")
    if isinstance(image, str) and image:
        lines.append(image)
    buttons = [b for b in payload.get("buttons") or [] if isinstance(b, dict) and b.get("title")]
    lines.extend(f"{i}. {b['title']}" for i, b in enumerate(buttons, start=1))
    # Recommendation cards: their buttons' numbers run on after the message's own.
    lines.extend(card_lines(cards_of(payload), len(buttons) + 1))
    return "\n".join(lines)[:limit]
