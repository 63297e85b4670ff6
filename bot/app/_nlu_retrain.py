"""Background retraining of the NLU model from accepted console corrections, with a hot swap.

Off unless ``BOT_NLU_RETRAIN_EVERY_H`` is set. Each run writes the corrections file (the same
one ``python -m bot train`` writes); when the model for the current inputs does not exist yet it
is trained (``rasa train`` in a subprocess, waited on from a thread so the hub keeps serving).
When Rasa serves another model, the served and the new model are scored on the test split
(``held_out_scores``) and the report is kept (shown on /console/corrections); Rasa is asked to
load the new model (``PUT /model``) only when it is not worse than the served one by more than
``BOT_NLU_SWAP_TOLERANCE`` in macro-F1 in either language. The old model answers until the new
one is loaded. A model judged worse is not judged again (the latest report says so). A run when
nothing changed costs one YAML read and one ``GET /status``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bot.app._cli_nlu import CORRECTIONS_FILE, known_keys, write_training_file
from bot.app._nlu_scores import Scorer, held_out_scores, not_worse, retrain_report, yaml_diff
from bot.corrections import CorrectionService, training_yaml
from bot.dialogue import RasaClient, RasaToolchain, model_path, train

logger = logging.getLogger(__name__)

STATUS_TIMEOUT_S = 30.0  # Rasa's GET /status; loading has its own, longer wait


@dataclass(frozen=True)
class RetrainResult:
    """What a run did: the model for the current inputs, whether it was trained, whether it may
    serve (not worse than the served one), how many Rasa servers were told to load it."""

    model: str
    trained: bool
    loaded: int  # how many Rasa servers were told to load it
    swapped: bool = True  # False: judged worse than the served model, not loaded

    def as_json(self) -> dict[str, object]:
        return {
            "model": self.model,
            "trained": self.trained,
            "loaded": self.loaded,
            "swapped": self.swapped,
        }


class NluRetrainer:
    """Keeps the model Rasa serves in step with the accepted corrections."""

    def __init__(
        self,
        toolchain: RasaToolchain,
        corrections: CorrectionService,
        rasa_urls: Sequence[str],
        token: str | None,
        *,
        tolerance: float = 0.01,
        scorer: Scorer | None = None,
    ) -> None:
        if toolchain.extra_data is None:
            raise ValueError("the Rasa toolchain names no folder for generated training data")
        if not rasa_urls:
            raise ValueError("no Rasa server to tell of a new model")
        if not 0.0 <= tolerance <= 1.0:
            raise ValueError(f"the swap tolerance is a macro-F1 difference in 0…1, not {tolerance}")
        self._toolchain = toolchain
        self._folder: Path = toolchain.extra_data
        self._corrections = corrections
        self._rasa_urls = list(rasa_urls)
        self._token = token
        self._tolerance = tolerance
        self._scorer: Scorer = scorer or partial(held_out_scores, toolchain)
        # One run at a time: a slow training must not be started twice by the next period.
        self._lock = asyncio.Lock()

    async def run(self) -> RetrainResult:
        """One pass: write the corrections, train if the model is missing, judge it against the
        served one, swap it in if it is not worse."""
        async with self._lock:
            examples = await self._corrections.accepted_examples()
            text = training_yaml(examples, await asyncio.to_thread(known_keys))
            old_text = await asyncio.to_thread(self._current_text)
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
            serving = [await self._serving(url) for url in self._rasa_urls]
            if all(name == model.name for name in serving):
                return RetrainResult(target.name, trained, 0)
            if not await self._judged_fit(
                model, serving[0], yaml_diff(old_text, text, CORRECTIONS_FILE)
            ):
                return RetrainResult(target.name, trained, 0, swapped=False)
            loaded = 0
            for url, name in zip(self._rasa_urls, serving, strict=True):
                if name != model.name:  # each replica in turn: the others keep serving
                    await self._load(url, model)
                    loaded += 1
            return RetrainResult(target.name, trained, loaded)

    def _current_text(self) -> str:
        path = self._folder / CORRECTIONS_FILE
        return path.read_text(encoding="utf-8") if path.exists() else ""

    async def _judged_fit(self, model: Path, serving: str | None, diff: str) -> bool:
        """Whether ``model`` may replace the served model: scored both on the test split (once
        per new model: a model judged worse stays judged) and the report kept."""
        last = await self._corrections.last_retrain()
        if last is not None and last.get("after_model") == model.name:
            return bool(last["swapped"])
        old = self._toolchain.models_dir / serving if serving else None
        before = None
        if old is not None and old.exists():
            before = await asyncio.to_thread(self._scorer, old)
        else:
            logger.info("The served model %s is not here to score: the new one is taken", serving)
        after = await asyncio.to_thread(self._scorer, model)
        report = retrain_report(
            before_model=serving,
            after_model=model.name,
            diff=diff,
            before=before,
            after=after,
            tolerance=self._tolerance,
        )
        fit = not_worse(before, after, self._tolerance)
        await self._corrections.record_retrain(model.name, fit, report)
        logger.info(
            "Retrained NLU model %s %s (macro-F1 before %s, after %s)",
            model.name,
            "swapped in" if fit else "kept out: worse than the served model",
            report["before"],
            report["after"],
        )
        return fit

    async def _serving(self, url: str) -> str | None:
        rasa = RasaClient(url, url, STATUS_TIMEOUT_S, token=self._token)
        await rasa.start()
        try:
            return await rasa.serving_model()
        finally:
            await rasa.close()

    async def _load(self, url: str, model: Path) -> None:
        """Have the Rasa at ``url`` serve ``model``."""
        rasa = RasaClient(url, url, STATUS_TIMEOUT_S, token=self._token)
        await rasa.start()
        try:
            await rasa.load_model(model)
        finally:
            await rasa.close()
