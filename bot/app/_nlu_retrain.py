"""Background retraining of the NLU model from accepted console corrections, with a hot swap.

Off unless ``BOT_NLU_RETRAIN_EVERY_H`` is set. Each run writes the corrections file (the same
one ``python -m bot train`` writes); when the model for the current inputs does not exist yet it
is trained (``rasa train`` in a subprocess, waited on from a thread so the hub keeps serving);
then, if Rasa serves another model, Rasa is asked to load it (``PUT /model``), and the old model
answers until the new one is loaded. A run when nothing changed costs one YAML read and one
``GET /status``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from bot.app._cli_nlu import known_keys, write_training_file
from bot.corrections import CorrectionService, training_yaml
from bot.dialogue import RasaClient, RasaToolchain, model_path, train

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrainResult:
    """What a run did: the model for the current inputs, whether it was trained, whether Rasa
    was told to load it."""

    model: str
    trained: bool
    loaded: bool

    def as_json(self) -> dict[str, object]:
        return {"model": self.model, "trained": self.trained, "loaded": self.loaded}


class NluRetrainer:
    """Keeps the model Rasa serves in step with the accepted corrections."""

    def __init__(
        self, toolchain: RasaToolchain, corrections: CorrectionService, rasa: RasaClient
    ) -> None:
        if toolchain.extra_data is None:
            raise ValueError("the Rasa toolchain names no folder for generated training data")
        self._toolchain = toolchain
        self._folder: Path = toolchain.extra_data
        self._corrections = corrections
        self._rasa = rasa
        # One run at a time: a slow training must not be started twice by the next period.
        self._lock = asyncio.Lock()

    async def run(self) -> RetrainResult:
        """One pass: write the corrections, train if the model is missing, swap it in."""
        async with self._lock:
            examples = await self._corrections.accepted_examples()
            text = training_yaml(examples, await asyncio.to_thread(known_keys))
            await asyncio.to_thread(write_training_file, self._folder, text)
            target = model_path(self._toolchain)
            trained = False
            if not target.exists():
                logger.info(
                    "Accepted corrections changed: training %s in the background", target.name
                )
                await asyncio.to_thread(train, self._toolchain)
                trained = True
            loaded = False
            if await self._rasa.serving_model() != target.name:
                await self._rasa.load_model(await asyncio.to_thread(target.resolve))
                loaded = True
            return RetrainResult(target.name, trained, loaded)
