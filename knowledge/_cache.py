"""The answer cache: a frequent question's answer served without retrieval.

The key is the knowledge base's revision, the language, the filters and the question as
``question_key`` folds it (simplified characters, full-width, case, punctuation and spaces), so
"退货政策？" and "退货政策" share an entry, and an ingestion, which changes the revision,
invalidates every entry at once: a process that has seen the new revision never asks for an old
key again, and Redis lets the old keys expire.

In memory (one process) or in Redis (several hub and action-server processes share what one
of them answered). The hit rate and the latency of cached and uncached answers are counted where
the answers are: per process in memory, for all processes together in Redis.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

import numpy as np
import redis

from knowledge._errors import StoreUnavailable
from knowledge._types import Answer

logger = logging.getLogger(__name__)

LATENCY_SAMPLES = 1000  # recent answers whose latency the percentiles are taken over
DEFAULT_TTL_S = 7 * 24 * 3600


def cache_key(revision: str, language: str, filters: str, question: str) -> str:
    return f"{revision}|{language}|{filters}|{question}"


def asks_one_of(key: str, questions: set[str]) -> bool:
    """Whether ``key`` (from :func:`cache_key`) caches one of the folded ``questions``, whatever
    its revision, language and filters (the filters may hold a "|" themselves, so every split
    after the second is tried)."""
    start = key.find("|", key.find("|") + 1)
    while start != -1:
        if key[start + 1 :] in questions:
            return True
        start = key.find("|", start + 1)
    return False


class AnswerCache(ABC):
    """Answers by key, and counts of how it is used."""

    backend: str

    @abstractmethod
    def get(self, key: str) -> Answer | None:
        """The cached answer, or None."""

    @abstractmethod
    def put(self, key: str, answer: Answer) -> None:
        """Remember an answer."""

    @abstractmethod
    def clear(self) -> None:
        """Forget every answer (entries of an old revision are never asked for again anyway)."""

    @abstractmethod
    def forget(self, questions: set[str]) -> int:
        """Forget the answers to these folded questions in every revision, language and filter
        (a customer's erasure); how many entries went."""

    def close(self) -> None:  # noqa: B027 - most caches hold nothing to release
        """Release what the cache holds open (a connection); the answers stay where they are."""

    @abstractmethod
    def record(self, hit: bool, ms: float) -> None:
        """Count one answer: from the cache or not, and how long it took."""

    @abstractmethod
    def stats(self) -> dict[str, Any]:
        """Entries, hits, misses, hit rate and latency percentiles of cached and uncached
        answers."""


def _summary(
    backend: str, entries: int, hits: int, misses: int, cached: list[float], fresh: list[float]
) -> dict[str, Any]:
    def p(values: list[float], q: float) -> float | None:
        return round(float(np.percentile(values, q)), 3) if values else None

    total = hits + misses
    return {
        "backend": backend,
        "entries": entries,
        "hits": hits,
        "misses": misses,
        "hit_rate": round(hits / total, 4) if total else 0.0,
        "cached_ms_p50": p(cached, 50),
        "cached_ms_p95": p(cached, 95),
        "uncached_ms_p50": p(fresh, 50),
        "uncached_ms_p95": p(fresh, 95),
    }


class MemoryAnswerCache(AnswerCache):
    """A least-recently-used dictionary in this process; an entry lives ``ttl_s`` at most, as
    in Redis, so a question another process's erasure could not reach here is gone within it."""

    backend = "memory"

    def __init__(
        self,
        size: int = 1024,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError(f"the answer cache's time to live must be positive, not {ttl_s}")
        self._size = size
        self._ttl = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._answers: OrderedDict[str, tuple[float, Answer]] = OrderedDict()
        self._hits = self._misses = 0
        self._cached: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._fresh: deque[float] = deque(maxlen=LATENCY_SAMPLES)

    def get(self, key: str) -> Answer | None:
        with self._lock:
            entry = self._answers.get(key)
            if entry is None:
                return None
            expires, answer = entry
            if self._clock() >= expires:
                del self._answers[key]
                return None
            self._answers.move_to_end(key)
            return answer

    def put(self, key: str, answer: Answer) -> None:
        if self._size <= 0:
            return
        with self._lock:
            self._answers[key] = (self._clock() + self._ttl, answer)
            self._answers.move_to_end(key)
            while len(self._answers) > self._size:
                self._answers.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()

    def forget(self, questions: set[str]) -> int:
        with self._lock:
            gone = [key for key in self._answers if asks_one_of(key, questions)]
            for key in gone:
                del self._answers[key]
            return len(gone)

    def record(self, hit: bool, ms: float) -> None:
        with self._lock:
            if hit:
                self._hits += 1
                self._cached.append(ms)
            else:
                self._misses += 1
                self._fresh.append(ms)

    def stats(self) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            return _summary(
                self.backend,
                sum(1 for expires, _ in self._answers.values() if expires > now),
                self._hits,
                self._misses,
                list(self._cached),
                list(self._fresh),
            )


class RedisAnswerCache(AnswerCache):
    """Answers as JSON in Redis under ``prefix``, expiring after ``ttl_s``; the counters and
    latency samples are shared by every process using the same prefix."""

    backend = "redis"

    def __init__(self, url: str, prefix: str = "kb-answers", ttl_s: int = DEFAULT_TTL_S) -> None:
        if ttl_s <= 0:
            raise ValueError(f"the answer cache's time to live must be positive, not {ttl_s}")
        try:
            self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        except ValueError as exc:
            raise ValueError(f"the answer cache URL '{url}' is not a Redis URL ({exc})") from exc
        self._prefix = prefix
        self._ttl = ttl_s

    def _key(self, name: str) -> str:
        return f"{self._prefix}:{name}"

    def get(self, key: str) -> Answer | None:
        try:
            raw = self._redis.get(self._key("a:" + key))
        except redis.RedisError as exc:
            # The cache is an optimisation: without Redis the question is answered afresh.
            logger.warning("The answer cache cannot be read (%s)", type(exc).__name__)
            return None
        if raw is None:
            return None
        try:
            return Answer.from_dict(json.loads(raw))
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("A cached answer cannot be read (%s); answering afresh", exc)
            return None

    def put(self, key: str, answer: Answer) -> None:
        data = json.dumps(answer.to_dict(), ensure_ascii=False)
        try:
            self._redis.set(self._key("a:" + key), data, ex=self._ttl)
        except redis.RedisError as exc:
            logger.warning("The answer cache cannot be written (%s)", type(exc).__name__)

    def clear(self) -> None:
        try:
            names = list(self._redis.scan_iter(match=self._key("a:*"), count=500))
            for start in range(0, len(names), 500):
                self._redis.delete(*names[start : start + 500])
        except redis.RedisError as exc:
            raise StoreUnavailable(f"the answer cache in Redis cannot be cleared ({exc})") from exc

    def close(self) -> None:
        self._redis.close()

    def forget(self, questions: set[str]) -> int:
        if not questions:
            return 0
        skip = len(self._key("a:"))
        try:
            gone = [
                name
                for name in self._redis.scan_iter(match=self._key("a:*"), count=1000)
                if asks_one_of(name.decode("utf-8", "replace")[skip:], questions)
            ]
            for start in range(0, len(gone), 500):
                self._redis.delete(*gone[start : start + 500])
        except redis.RedisError as exc:
            # Unlike a read, an erasure must not pass quietly: the caller reports it.
            raise StoreUnavailable(f"the answer cache in Redis cannot be reached ({exc})") from exc
        return len(gone)

    def record(self, hit: bool, ms: float) -> None:
        name = "hits" if hit else "misses"
        samples = self._key("ms:cached" if hit else "ms:uncached")
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(self._key(name))
                pipe.lpush(samples, f"{ms:.3f}")
                pipe.ltrim(samples, 0, LATENCY_SAMPLES - 1)
                pipe.execute()
        except redis.RedisError as exc:
            logger.warning("The answer cache's counters cannot be written (%s)", type(exc).__name__)

    def stats(self) -> dict[str, Any]:
        try:
            hits = int(self._redis.get(self._key("hits")) or 0)
            misses = int(self._redis.get(self._key("misses")) or 0)
            cached = [float(v) for v in self._redis.lrange(self._key("ms:cached"), 0, -1)]
            fresh = [float(v) for v in self._redis.lrange(self._key("ms:uncached"), 0, -1)]
            entries = sum(1 for _ in self._redis.scan_iter(match=self._key("a:*"), count=1000))
        except redis.RedisError as exc:
            return {"backend": self.backend, "error": f"Redis unavailable ({exc})"}
        return _summary(self.backend, entries, hits, misses, cached, fresh)
