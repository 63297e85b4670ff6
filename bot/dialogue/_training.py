"""Train the Rasa model only when its inputs changed: models are named by a hash of their inputs."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from filelock import FileLock, Timeout

from bot.dialogue._errors import TrainingFailed

logger = logging.getLogger(__name__)

# The Rasa project (config.yml, bot/domain, nlu_data) is the repository itself, so that Rasa's
# own commands work in it (see the README).
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class RasaToolchain:
    """Where Rasa runs and what it writes; the wiring builds it from the platform settings."""

    python: Path  # the interpreter of Rasa's environment
    models_dir: Path  # trained models, named by the hash of their inputs
    cache_dir: Path  # Rasa's training cache
    # Generated training data beside nlu_data/train (the accepted console corrections): a
    # folder read as more of the TRAIN split, never dev or test; absent or empty adds nothing.
    extra_data: Path | None = None

    def data_paths(self) -> tuple[Path, ...]:
        """What `rasa train --data` reads: nlu_data/train, and the extra folder if it has files."""
        extra = self.extra_data
        if extra is not None and extra.is_dir() and any(extra.glob("*.yml")):
            return (TRAINING_DATA, extra)
        return (TRAINING_DATA,)


CONFIG = PROJECT_ROOT / "config.yml"
DOMAIN = PROJECT_ROOT / "bot" / "domain"
TRAINING_DATA = PROJECT_ROOT / "nlu_data" / "train"
# Everything that changes what `rasa train` produces, the custom components' code included.
TRAINING_INPUTS = (
    CONFIG,
    DOMAIN,
    TRAINING_DATA,
    PROJECT_ROOT / "bot" / "rasa_components",
    PROJECT_ROOT / "bot" / "language.py",
    PROJECT_ROOT / "requirements" / "rasa.lock.txt",
)
MODELS_KEPT = 3
TRAINING_LOCK = ".training.lock"  # in the models folder


def domain_intents(domain: Path = DOMAIN) -> frozenset[str]:
    """Every intent the Rasa domain declares (its files' ``intents`` lists)."""
    intents: set[str] = set()
    for path in sorted(domain.glob("*.yml")):
        declared = (yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader) or {}).get(
            "intents"
        ) or []
        intents.update(i if isinstance(i, str) else next(iter(i)) for i in declared)
    return frozenset(intents)


def training_fingerprint(
    inputs: tuple[Path, ...] = TRAINING_INPUTS, root: Path = PROJECT_ROOT
) -> str:
    """A hash over the names (relative to ``root``) and contents of every training input file."""
    digest = hashlib.sha256()
    for root in inputs:
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            if "__pycache__" in path.parts:
                continue
            digest.update(str(path.relative_to(root)).encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()[:16]


def model_path(toolchain: RasaToolchain) -> Path:
    """Where the model for the current training inputs is (or will be) stored."""
    extra = toolchain.data_paths()[1:]
    if not extra:
        return toolchain.models_dir / f"{training_fingerprint()}.tar.gz"
    digest = hashlib.sha256(training_fingerprint().encode())
    for folder in extra:  # the generated files count by content, wherever the folder is
        digest.update(training_fingerprint((folder,), folder).encode())
    return toolchain.models_dir / f"{digest.hexdigest()[:16]}.tar.gz"


def rasa_environment(toolchain: RasaToolchain) -> dict[str, str]:
    """Environment for every Rasa subprocess."""
    return {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "RASA_CACHE_DIRECTORY": str(toolchain.cache_dir),
        "PYTHONPATH": str(PROJECT_ROOT),
        "PYTHONWARNINGS": "ignore",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def train(toolchain: RasaToolchain, *, force: bool = False) -> Path:
    """Return the model for the current inputs, training it first when it does not exist."""
    target = model_path(toolchain)
    if target.exists() and not force:
        logger.info("Rasa model is up to date: %s", target.name)
        return target
    toolchain.models_dir.mkdir(parents=True, exist_ok=True)
    # One training at a time per models folder: two platforms starting from one clone, or the
    # CLI beside a running platform, would train the same model twice, and the first to finish
    # removed the other's unfinished output (`_prune`), failing it.
    lock = FileLock(toolchain.models_dir / TRAINING_LOCK)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        logger.info("Another process is training the Rasa model; waiting for it to finish")
        lock.acquire()
    try:
        if target.exists() and not force:
            logger.info("Rasa model is up to date (another process trained it): %s", target.name)
            return target
        _train_into(toolchain, target)
    finally:
        lock.release()
    return target


def _train_into(toolchain: RasaToolchain, target: Path) -> None:
    """Run ``rasa train`` for the current inputs and store the model as ``target``."""
    logger.info("Training the Rasa model (inputs changed); Rasa shows its progress below")
    with tempfile.TemporaryDirectory(dir=toolchain.models_dir, prefix=".training-") as out:
        command = [
            str(toolchain.python),
            "-m",
            "rasa",
            "train",
            "--config",
            str(CONFIG),
            "--domain",
            str(DOMAIN),
            "--data",
            *(str(path) for path in toolchain.data_paths()),
            "--out",
            out,
            "--fixed-model-name",
            "model",
        ]
        completed = subprocess.run(
            command, cwd=PROJECT_ROOT, env=rasa_environment(toolchain), check=False
        )
        built = Path(out) / "model.tar.gz"
        if completed.returncode != 0:
            raise TrainingFailed(
                f"`rasa train` failed with exit code {completed.returncode}; "
                "its output above says why"
            )
        if not built.exists():
            raise TrainingFailed(f"`rasa train` ended without error but wrote no model at {built}")
        # A model appears under its final name only once complete, so a crash leaves no half file.
        built.replace(target)
    _prune(toolchain.models_dir, keep=target)
    logger.info("Trained %s", target.name)


def _prune(models_dir: Path, keep: Path) -> None:
    models = sorted(models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in [m for m in models if m != keep][MODELS_KEPT - 1 :]:
        logger.info("Removing old model %s", old.name)
        old.unlink()
    for leftover in models_dir.glob(".training-*"):
        shutil.rmtree(leftover, ignore_errors=True)
