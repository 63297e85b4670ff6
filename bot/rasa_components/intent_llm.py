"""A second opinion from an LLM on low-confidence intents (``IntentClassifier``'s ``llm_assist``).

When the classifier's top probability is below ``below``, an OpenAI-compatible chat model is
asked to choose among the classifier's top ``candidates`` intents, each shown with a few of its
training examples (kept with the trained model, so parsing needs no training data), or "none".
Its answer replaces the intent only when it names one of the candidates; anything else ("none",
another name, a timeout, an HTTP error, a malformed response) keeps the classifier's answer.
Small models are not to be trusted unchecked, hence the rule; whether the assist pays is measured
by ``bench/nlu_llm.py`` (README: with a 0.5B model it does not, so it is off by default).

Plain ``requests`` rather than the ``openai`` client or httpx: Rasa's environment (Python 3.10)
has requests and neither of the others. No Rasa here, so the tests and the benchmark use it
directly. Nothing of the customer's message is logged; before it leaves, the personal data the
platform's redaction finds (phones, e-mails, ID numbers, bank cards, addresses) becomes its
placeholder and the remaining digit runs of 4+ become zeros (an intent does not depend on an
order id's digits).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import requests

from bot.redaction import redact

logger = logging.getLogger(__name__)

NONE = "none"  # the answer that no candidate fits
BASE_URL_ENV, MODEL_ENV, API_KEY_ENV = "BOT_LLM_BASE_URL", "BOT_LLM_MODEL", "BOT_LLM_API_KEY"
MAX_EXAMPLE_CHARS = 200  # a long training example costs prompt time and says little more
MAX_MESSAGE_CHARS = 500
MAX_CANDIDATES = 10  # the intents a parse ranks (IntentClassifier's RANKING_LENGTH)
_DIGITS = re.compile(r"\d{4,}")
_EDGES = " \t\r\n\"'`*.,:;!?()[]{}<>“”‘’。，：；！？"

SYSTEM_PROMPT = (
    "You classify a customer's message for a customer-service assistant. You are given "
    "candidate intents, each with example messages. Reply with the name of the one intent "
    f"the message expresses, exactly as written, or `{NONE}` if none of them fits. "
    "Reply with the name only."
)


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible chat endpoint: the same ``BOT_LLM_*`` settings as the knowledge
    base's (``/v1`` base URL, model name, optional API key)."""

    base_url: str
    model: str
    api_key: Optional[str] = None

    def __repr__(self) -> str:  # never print the key
        return f"Endpoint(base_url={self.base_url!r}, model={self.model!r})"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Optional["Endpoint"]:
        """The endpoint the platform passes to Rasa's process, or None when none is set."""
        url = (environ.get(BASE_URL_ENV) or "").strip()
        if not url:
            return None
        model = (environ.get(MODEL_ENV) or "").strip()
        if not model:
            raise ValueError(
                f"{BASE_URL_ENV} is set but {MODEL_ENV} is not: set the model name the "
                "endpoint serves"
            )
        return cls(url.rstrip("/"), model, (environ.get(API_KEY_ENV) or "").strip() or None)


@dataclass(frozen=True)
class AssistSettings:
    """When to ask and what to show (the component's ``llm_*`` options)."""

    below: float = 0.6  # ask when the classifier's top probability is below this
    candidates: int = 5  # the classifier's top intents offered to the LLM
    examples: int = 3  # training examples shown per candidate
    timeout_s: float = 10.0  # a parse waits no longer; then the classifier's answer stands
    # Ask about messages the classifier rejects as out of scope too (their top probability is
    # low by construction): the LLM may then bring them back into scope.
    rejected: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.below <= 1.0:
            raise ValueError(f"llm_below is a probability in (0, 1]; got {self.below}")
        if not 2 <= self.candidates <= MAX_CANDIDATES:
            raise ValueError(
                f"llm_candidates must be from 2 to {MAX_CANDIDATES}; got {self.candidates}"
            )
        if self.examples < 0:
            raise ValueError(f"llm_examples must not be negative; got {self.examples}")
        if self.timeout_s <= 0:
            raise ValueError(f"llm_timeout_s must be positive; got {self.timeout_s}")


@dataclass(frozen=True)
class Choice:
    """What the LLM made of one message.

    ``intent`` is one of the candidates, or None when the classifier's answer stands;
    ``outcome`` says why: chosen, none, unrecognised (an answer naming no single candidate),
    timeout, unreachable, http_error, bad_response (not a chat completion).
    """

    intent: Optional[str]
    outcome: str
    latency_s: float

    def as_output(self, candidates: Sequence[str]) -> Dict[str, Any]:
        """The ``llm_assist`` entry of Rasa's parse result."""
        return {
            "candidates": list(candidates),
            "intent": self.intent,
            "outcome": self.outcome,
            "latency_ms": round(self.latency_s * 1000.0, 1),
        }


def masked(text: str) -> str:
    """The message as the LLM sees it: personal data redacted, other digit runs of 4+ as
    zeros."""
    return _DIGITS.sub(lambda m: "0" * len(m.group(0)), redact(text[:MAX_MESSAGE_CHARS]))


def build_messages(text: str, candidates: Sequence[Tuple[str, Sequence[str]]]) -> List[dict]:
    """The chat messages asking for one of ``candidates`` ((intent, examples), likeliest first)."""
    blocks = []
    for name, examples in candidates:
        shown = "".join(f"\n- {masked(e)[:MAX_EXAMPLE_CHARS]}" for e in examples)
        blocks.append(f"intent: {name}\nexamples:{shown}" if shown else f"intent: {name}")
    blocks.append(f"intent: {NONE}\n(the message fits none of the intents above)")
    user = (
        "Candidate intents:\n\n"
        + "\n\n".join(blocks)
        + f"\n\nMessage: {masked(text)}\nWhich intent? Reply with one of: "
        + ", ".join([name for name, _ in candidates] + [NONE])
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def parse_answer(answer: str, names: Sequence[str]) -> Optional[str]:
    """The candidate the answer names, ``NONE``, or None when it names no single candidate.

    Exact names first (case-insensitive, quotes and punctuation around them ignored), then an
    answer that mentions exactly one candidate as a whole word ("Intent: GetWeather").
    """
    lines = [line.strip(_EDGES) for line in answer.strip().splitlines() if line.strip(_EDGES)]
    if not lines:
        return None
    first = lines[0].lower()
    by_lower = {name.lower(): name for name in names}
    if first in by_lower:
        return by_lower[first]
    if first in {NONE, "none of these", "none of the above"}:
        return NONE
    mentioned = {
        name
        for name in names
        if re.search(rf"(?<![\w.-]){re.escape(name.lower())}(?![\w-])", answer.lower())
    }
    if len(mentioned) == 1:
        return mentioned.pop()
    return None


class IntentAssist:
    """Asks the LLM to choose among the classifier's candidates; never raises for the LLM's
    faults (each is an outcome, logged without the message)."""

    def __init__(
        self,
        endpoint: Endpoint,
        settings: AssistSettings,
        session: Optional[requests.Session] = None,
    ) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self._session = session or requests.Session()

    def wants(self, top_probability: float, rejected: bool = False) -> bool:
        """Whether a message the classifier scored so (and rejected or not) is worth asking
        about."""
        if rejected and not self.settings.rejected:
            return False
        return top_probability < self.settings.below

    def candidates(
        self, ranking: Sequence[Tuple[str, float]], examples: Mapping[str, Sequence[str]]
    ) -> List[Tuple[str, List[str]]]:
        """The top intents of a ranking with the examples to show for each."""
        shown = self.settings.examples
        return [
            (name, list(examples.get(name, ()))[:shown])
            for name, _ in ranking[: self.settings.candidates]
        ]

    def choose(self, text: str, candidates: Sequence[Tuple[str, Sequence[str]]]) -> Choice:
        """One chat completion; the candidate it names, or why the classifier's answer stands."""
        names = [name for name, _ in candidates]
        started = time.monotonic()
        outcome, intent = self._ask(text, candidates, names)
        choice = Choice(intent, outcome, time.monotonic() - started)
        logger.debug(
            "LLM intent assist: %s among %d candidates in %.0f ms",
            outcome,
            len(names),
            choice.latency_s * 1000,
        )
        return choice

    def _ask(
        self, text: str, candidates: Sequence[Tuple[str, Sequence[str]]], names: List[str]
    ) -> Tuple[str, Optional[str]]:
        headers = {"Content-Type": "application/json"}
        if self.endpoint.api_key:
            headers["Authorization"] = f"Bearer {self.endpoint.api_key}"
        body = {
            "model": self.endpoint.model,
            "messages": build_messages(text, candidates),
            "temperature": 0,
            "max_tokens": 16,
        }
        url = f"{self.endpoint.base_url}/chat/completions"
        try:
            response = self._session.post(
                url, json=body, headers=headers, timeout=self.settings.timeout_s
            )
        except requests.Timeout:
            logger.warning("LLM intent assist: no answer within %.1f s", self.settings.timeout_s)
            return "timeout", None
        except requests.RequestException as exc:
            logger.warning("LLM intent assist: %s unreachable: %s", url, type(exc).__name__)
            return "unreachable", None
        if response.status_code != 200:
            logger.warning("LLM intent assist: %s answered HTTP %d", url, response.status_code)
            return "http_error", None
        try:
            answer = response.json()["choices"][0]["message"]["content"]
            if not isinstance(answer, str):
                raise TypeError(f"content is {type(answer).__name__}, not text")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            logger.warning("LLM intent assist: not a chat completion from %s: %s", url, exc)
            return "bad_response", None
        parsed = parse_answer(answer, names)
        if parsed is None:
            return "unrecognised", None
        if parsed == NONE:
            return "none", None
        return "chosen", parsed
