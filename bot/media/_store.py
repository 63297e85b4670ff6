"""Original files of voice messages and images, kept on disk for agents until they expire.

Each file lives under ``<media folder>/<year>/<month>/<id>.<format>``, with a row in the hub's
``attachments`` table that records what was read from it; expired files are deleted and their
rows kept (without a path) so the conversation still says what was sent.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from bot.media._errors import AttachmentNotFound
from bot.storage import Attachment, Database, utcnow
from channels.media import SniffedMedia

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredAttachment:
    """A kept file and what became of it."""

    public_id: str
    channel: str
    sender: str
    kind: str
    format: str
    mime: str
    size_bytes: int
    path: Path | None
    status: str
    reason: str | None
    extracted_text: str | None
    language: str | None
    duration_s: float | None
    created_at: datetime
    expires_at: datetime

    def as_json(self) -> dict[str, Any]:
        """Plain JSON for APIs (no file path: the file is served by id)."""
        return {
            "id": self.public_id,
            "kind": self.kind,
            "format": self.format,
            "mime": self.mime,
            "size_bytes": self.size_bytes,
            "status": self.status,
            "reason": self.reason,
            "extracted_text": self.extracted_text,
            "language": self.language,
            "duration_s": self.duration_s,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "available": self.path is not None,
        }


class AttachmentStore:
    """Keeps originals in ``folder`` for ``retention`` and records them in the hub database."""

    def __init__(self, database: Database, folder: Path, retention: timedelta) -> None:
        self._db = database
        self.folder = folder
        self.retention = retention

    def incoming(self) -> Path:
        """A fresh path to receive an upload into, on the same disk as the kept files."""
        spool = self.folder / "incoming"
        spool.mkdir(parents=True, exist_ok=True)
        return spool / f"{uuid.uuid4().hex}.part"

    async def keep(
        self, source: Path, *, channel: str, sender: str, media: SniffedMedia
    ) -> StoredAttachment:
        """Move ``source`` into the store and record it (status "received")."""
        now = utcnow()
        public_id = uuid.uuid4().hex
        relative = Path(f"{now:%Y}") / f"{now:%m}" / f"{public_id}.{media.format}"
        target = self.folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = _sha256(source)
        os.replace(source, target)
        row = {
            "public_id": public_id,
            "channel": channel,
            "sender": sender,
            "kind": media.kind,
            "format": media.format,
            "mime": media.mime,
            "size_bytes": media.size_bytes,
            "sha256": digest,
            "path": str(relative),
            "status": "received",
            "created_at": now,
            "expires_at": now + self.retention,
        }
        try:
            await self._db.transaction(lambda c: c.execute(insert(Attachment), row))
        except Exception:
            target.unlink(missing_ok=True)  # no row points at it: do not leave an orphan
            raise
        return self._attachment(row)

    async def settle(
        self,
        attachment: StoredAttachment,
        *,
        status: str,
        reason: str | None = None,
        text: str | None = None,
        language: str | None = None,
        duration_s: float | None = None,
    ) -> StoredAttachment:
        """Record what reading the file gave: "accepted" with its text, or "rejected" and why."""
        values = {
            "status": status,
            "reason": reason,
            "extracted_text": text,
            "language": language,
            "duration_s": duration_s,
        }
        statement = (
            update(Attachment).where(Attachment.public_id == attachment.public_id).values(**values)
        )
        await self._db.transaction(lambda c: c.execute(statement))
        return await self.get(attachment.public_id)

    async def get(self, public_id: str) -> StoredAttachment:
        """A kept attachment by id; ``AttachmentNotFound`` when unknown."""

        def load(connection: Connection) -> dict[str, Any] | None:
            found = connection.execute(
                select(Attachment.__table__).where(Attachment.public_id == public_id)
            ).first()
            return None if found is None else dict(found._mapping)

        row = await self._db.transaction(load)
        if row is None:
            raise AttachmentNotFound(f"no attachment {public_id}")
        return self._attachment(row)

    async def of_sender(self, channel: str, sender: str) -> list[StoredAttachment]:
        """Every attachment a customer sent on a channel, oldest first."""

        def load(connection: Connection) -> list[dict[str, Any]]:
            rows = connection.execute(
                select(Attachment.__table__)
                .where(Attachment.channel == channel, Attachment.sender == sender)
                .order_by(Attachment.id)
            )
            return [dict(r._mapping) for r in rows]

        return [self._attachment(row) for row in await self._db.transaction(load)]

    async def purge_expired(self, now: datetime | None = None) -> int:
        """Delete the files whose retention ended; return how many."""
        moment = now or utcnow()

        def expired(connection: Connection) -> list[tuple[int, str]]:
            rows = connection.execute(
                select(Attachment.id, Attachment.path).where(
                    Attachment.expires_at <= moment, Attachment.path.is_not(None)
                )
            )
            return [(r.id, str(r.path)) for r in rows]

        doomed = await self._db.transaction(expired)
        for _id, relative in doomed:
            (self.folder / relative).unlink(missing_ok=True)
        if doomed:
            ids = [attachment_id for attachment_id, _ in doomed]
            statement = (
                update(Attachment).where(Attachment.id.in_(ids)).values(path=None, purged_at=moment)
            )
            await self._db.transaction(lambda c: c.execute(statement))
            logger.info("Deleted %d media files past their retention period", len(doomed))
        return len(doomed)

    async def export_customer(self, channel: str, sender: str) -> list[StoredAttachment]:
        """Everything kept of a customer's voice messages and images (files and their text)."""
        return await self.of_sender(channel, sender)

    async def erase_customer(self, channel: str, sender: str) -> dict[str, int]:
        """Delete a customer's originals from disk and their rows (with the text read from
        them). Files go first: a crash in between leaves rows whose file is missing, which
        erasing again removes, never a file that no row points at."""
        kept = await self.of_sender(channel, sender)
        files = 0
        for attachment in kept:
            if attachment.path is not None and attachment.path.exists():
                attachment.path.unlink()
                files += 1
        statement = delete(Attachment).where(
            Attachment.channel == channel, Attachment.sender == sender
        )
        rows = await self._db.transaction(lambda c: c.execute(statement).rowcount)
        return {"attachments": int(rows), "files": files}

    async def count_expired(self, now: datetime | None = None) -> int:
        """How many files ``purge_expired`` would delete now (the retention dry run)."""
        moment = now or utcnow()
        query = select(func.count()).where(
            Attachment.expires_at <= moment, Attachment.path.is_not(None)
        )
        return int(await self._db.transaction(lambda c: c.execute(query).scalar_one()))

    def _attachment(self, row: dict[str, Any]) -> StoredAttachment:
        relative = row.get("path")
        return StoredAttachment(
            public_id=row["public_id"],
            channel=row["channel"],
            sender=row["sender"],
            kind=row["kind"],
            format=row["format"],
            mime=row["mime"],
            size_bytes=row["size_bytes"],
            path=self.folder / relative if relative else None,
            status=row["status"],
            reason=row.get("reason"),
            extracted_text=row.get("extracted_text"),
            language=row.get("language"),
            duration_s=row.get("duration_s"),
            created_at=row["created_at"],
            expires_at=row["expires_at"],
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def discard(path: Path) -> None:
    """Remove an upload that is not kept."""
    path.unlink(missing_ok=True)


def copy_into(source: Any, target: Path, limit: int) -> int:
    """Copy a file-like upload to ``target``, at most ``limit`` + 1 bytes; return the size."""
    with target.open("wb") as sink:
        copied = 0
        while chunk := source.read(1024 * 1024):
            copied += len(chunk)
            if copied > limit:
                break
            sink.write(chunk)
    return copied
