"""Secrets the platform makes itself when the operator set none: made once, kept under var_dir."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def kept_secret(var_dir: Path, name: str) -> str:
    """The secret in ``var_dir/name``, made (random, 32 bytes, mode 0600) if missing."""
    path = Path(var_dir) / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{name}.{secrets.token_hex(8)}")
        draft.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        draft.chmod(0o600)
        # A hard link appears whole or not at all: of two replicas starting together, the
        # second's link fails and it reads the first one's secret.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return path.read_text(encoding="utf-8").strip()
