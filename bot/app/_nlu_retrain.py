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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.app._cli_nlu import known_keys, write_training_file
from bot.corrections import CorrectionService, training_yaml
from bot.dialogue import RasaClient, RasaToolchain, model_path, train

logger = logging.getLogger(__name__)

STATUS_TIMEOUT_S = 30.0  # Rasa's GET /status; loading has its own, longer wait


@dataclass(frozen=True)
class RetrainResult:
    """What a run did: the model for the current inputs, whether it was trained, how many Rasa
    servers were told to load it."""

    model: str
    trained: bool
    loaded: int  # how many Rasa servers were told to load it

    def as_json(self) -> dict[str, object]:
        return {"model": self.model, "trained": self.trained, "loaded": self.loaded}


class NluRetrainer:
    """Keeps the model Rasa serves in step with the accepted corrections."""

    def __init__(
        self,
        toolchain: RasaToolchain,
        corrections: CorrectionService,
        rasa_urls: Sequence[str],
        token: str | None,
    ) -> None:
        if toolchain.extra_data is None:
            raise ValueError("the Rasa toolchain names no folder for generated training data")
        if not rasa_urls:
            raise ValueError("no Rasa server to tell of a new model")
        self._toolchain = toolchain
        self._folder: Path = toolchain.extra_data
        self._corrections = corrections
        self._rasa_urls = list(rasa_urls)
        self._token = token
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
            model = await asyncio.to_thread(target.resolve)
            loaded = 0
            for url in self._rasa_urls:  # each replica in turn: the others keep serving
                loaded += await self._swap(url, model)
            return RetrainResult(target.name, trained, loaded)

    async def _swap(self, url: str, model: Path) -> int:
        """Have the Rasa at ``url`` serve ``model``; 1 if it was told to, 0 if it did already."""
        rasa = RasaClient(url, url, STATUS_TIMEOUT_S, token=self._token)
        await rasa.start()
        try:
            if await rasa.serving_model() == model.name:
                return 0
            await rasa.load_model(model)
            return 1
        finally:
            await rasa.close()
