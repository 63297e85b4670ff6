"""``python -m bot nlu ...``: the NLU model's training data from the console's corrections.

``python -m bot train`` calls ``scored_training``: it writes the corrections first, so accepted
corrections are in every training (as a generated file of the TRAIN split, under ``var_dir``;
never dev or test), shows the diff of that file, and when it changed the model, scores the old and
the new model on the test split and keeps the report (shown on /console/corrections).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import typer

from bot.app._cli_settings import cli_settings
from bot.app._nlu_scores import Scorer, held_out_scores, retrain_report, yaml_diff
from bot.app._settings import Settings
from bot.corrections import CorrectionService, TrainingExample, near_duplicate_key, training_yaml
from bot.dialogue import (
    DEV_DATA,
    TEST_DATA,
    TRAINING_DATA,
    domain_intents,
    load_examples,
    model_path,
    train,
)
from bot.storage import Database

nlu_app = typer.Typer(help="The NLU model's training data.", no_args_is_help=True)
CORRECTIONS_FILE = "corrections.yml"


@dataclass(frozen=True)
class CorrectionsFile:
    """What ``write_corrections`` wrote: the file (None when no example is left) and counts."""

    path: Path | None
    accepted: int
    written: int


def known_keys() -> set[str]:
    """The near-duplicate keys of every train, dev and test message of the project."""
    folders = (TRAINING_DATA, DEV_DATA, TEST_DATA)
    return {near_duplicate_key(e.text) for folder in folders for e in load_examples(folder)}


def write_corrections(settings: Settings) -> CorrectionsFile:
    """Write the accepted corrections as Rasa NLU YAML into the toolchain's extra folder (or
    remove the file when there are none), leaving out what the splits already hold."""
    folder = settings.rasa_toolchain.extra_data
    if folder is None:
        raise ValueError("the Rasa toolchain names no folder for generated training data")
    examples = asyncio.run(_accepted(settings))
    target = write_training_file(folder, training_yaml(examples, known_keys()))
    if target is None:
        return CorrectionsFile(None, len(examples), 0)
    written = sum(1 for e in load_examples(target))
    return CorrectionsFile(target, len(examples), written)


@dataclass(frozen=True)
class ScoredTraining:
    """What ``python -m bot train`` did: the model, the corrections file's diff, and the report
    of the old and new model's test scores (None when the corrections did not change the model
    or there was no old model)."""

    model: Path
    corrections: CorrectionsFile
    diff: str
    report: dict[str, object] | None


def scored_training(
    settings: Settings, *, force: bool = False, scores: bool = True, scorer: Scorer | None = None
) -> ScoredTraining:
    """Fold the accepted corrections in, train, and (``scores``) report before/after scores."""
    toolchain = settings.rasa_toolchain
    before = model_path(toolchain)  # the model for the inputs as they were
    folder = toolchain.extra_data
    old_file = None if folder is None else folder / CORRECTIONS_FILE
    old_text = old_file.read_text(encoding="utf-8") if old_file and old_file.exists() else ""
    corrections = write_corrections(settings)
    new_text = corrections.path.read_text(encoding="utf-8") if corrections.path else ""
    diff = yaml_diff(old_text, new_text, CORRECTIONS_FILE)
    model = train(toolchain, force=force)
    if not scores or not diff or model == before or not before.exists():
        return ScoredTraining(model, corrections, diff, None)
    score = scorer or (lambda path: held_out_scores(toolchain, path))
    report = retrain_report(
        before_model=before.name,
        after_model=model.name,
        diff=diff,
        before=score(before),
        after=score(model),
        tolerance=settings.nlu_swap_tolerance,
    )
    asyncio.run(_record(settings, model.name, report))
    return ScoredTraining(model, corrections, diff, report)


async def _record(settings: Settings, model: str, report: dict[str, object]) -> None:
    database = Database(settings.hub_database_url)
    try:
        await database.migrate()
        # The command's model is the one the platform serves at its next start.
        service = CorrectionService(database, domain_intents())
        await service.record_retrain(model, True, {**report, "source": "train command"})
    finally:
        database.dispose()


def write_training_file(folder: Path, text: str) -> Path | None:
    """Write ``text`` as the corrections file in ``folder`` (removed when empty); its path."""
    target = folder / CORRECTIONS_FILE
    if not text:
        target.unlink(missing_ok=True)
        return None
    if target.exists() and target.read_text(encoding="utf-8") == text:
        return target  # unchanged: its time stamp stays too
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)  # never a half file for a training to read
    return target


async def _accepted(settings: Settings) -> list[TrainingExample]:
    database = Database(settings.hub_database_url)
    try:
        await database.migrate()
        return await CorrectionService(database, domain_intents()).accepted_examples()
    finally:
        database.dispose()


@nlu_app.command("corrections")
def corrections_command() -> None:
    """List the accepted corrections as the training file ``python -m bot train`` will use."""
    settings = cli_settings()
    result = write_corrections(settings)
    typer.echo(
        json.dumps(
            {
                "accepted": result.accepted,
                "training_examples": result.written,
                "left_out": result.accepted - result.written,
                "file": None if result.path is None else str(result.path),
            },
            ensure_ascii=False,
        )
    )
    if result.path is not None:
        typer.echo(result.path.read_text(encoding="utf-8"))
