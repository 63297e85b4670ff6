"""Trained models versioned on disk: ``v0001/model.pkl`` beside ``v0001/report.json``.

A serving process checks for a newer version and swaps it in without a restart. The files are
Python pickles: only load a folder this platform wrote (it lives under the data folder, ``var/``).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
from pathlib import Path
from typing import Any

from bot.recommend._content import ContentModel, TextEmbedder
from bot.recommend._errors import RecommendError
from bot.recommend._hybrid import HybridModel

logger = logging.getLogger(__name__)

VERSION = re.compile(r"^v(\d{4,})$")


class ModelStore:
    """Numbered model versions in one folder; the highest complete one is the current."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def versions(self) -> list[int]:
        """Complete versions (model and report written), oldest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for child in self.folder.iterdir():
            match = VERSION.match(child.name)
            if match and (child / "model.pkl").is_file() and (child / "report.json").is_file():
                found.append(int(match.group(1)))
        return sorted(found)

    def save(self, model: HybridModel, report: dict[str, Any]) -> int:
        """Write ``model`` and its report as the next version; return its number."""
        number = (self.versions() or [0])[-1] + 1
        target = self.folder / f"v{number:04d}"
        partial = self.folder / f".v{number:04d}.partial"
        partial.mkdir(parents=True, exist_ok=False)
        with (partial / "model.pkl").open("wb") as out:
            pickle.dump(model, out, protocol=pickle.HIGHEST_PROTOCOL)
        (partial / "report.json").write_text(
            json.dumps({"version": number, **report}, indent=2, ensure_ascii=False),
            encoding="utf-8",
        )
        # A rename is atomic: a reader never sees a half-written version.
        os.replace(partial, target)
        logger.info("Saved recommendation model version %d in %s", number, target)
        return number

    def load(self, number: int, embedder: TextEmbedder | None) -> HybridModel:
        """Version ``number``, with ``embedder`` re-attached to its content model."""
        path = self.folder / f"v{number:04d}" / "model.pkl"
        try:
            with path.open("rb") as source:
                model = pickle.load(source)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError) as exc:
            raise RecommendError(
                f"model version {number} in {path} cannot be read ({exc})"
            ) from exc
        if not isinstance(model, HybridModel):
            raise RecommendError(f"{path} does not hold a recommendation model")
        for member, _weight in model.members:
            if isinstance(member, ContentModel):
                if embedder is None:
                    raise RecommendError(
                        f"model version {number} uses the content model; pass an embedder"
                    )
                member.embedder = embedder
        return model

    def report(self, number: int) -> dict[str, Any]:
        """The report saved with version ``number``."""
        path = self.folder / f"v{number:04d}" / "report.json"
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return loaded
