"""The knowledge base as the platform configures it: settings in, a ``KnowledgeBase`` out."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import redis
from redis.exceptions import LockError, RedisError

from bot.app._settings import Settings
from bot.language import detect_language
from bot.privacy import names_a_person, redact
from knowledge import (
    AnswerCache,
    IngestReport,
    KnowledgeBase,
    KnowledgeConfig,
    LLMConfig,
    RedisAnswerCache,
    StoreUnavailable,
    forget_cached_questions,
)

logger = logging.getLogger(__name__)


def knowledge_config(settings: Settings) -> KnowledgeConfig:
    """The knowledge base's configuration from the platform settings."""
    llm = None
    if settings.llm_base_url:
        if not settings.llm_model:
            raise ValueError("BOT_LLM_BASE_URL is set but BOT_LLM_MODEL is not: name the model")
        llm = LLMConfig(
            base_url=settings.llm_base_url,
            model=settings.llm_model,
            api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else "none",
            timeout_s=settings.llm_timeout_s,
        )
    if settings.knowledge_llm_verify and llm is None:
        raise ValueError(
            "BOT_KNOWLEDGE_LLM_VERIFY is on but no LLM is configured: set BOT_LLM_BASE_URL and "
            "BOT_LLM_MODEL, or turn the verifier off"
        )
    config = KnowledgeConfig(
        persist_dir=None if settings.chroma_url else settings.var_dir / "chroma",
        chroma_url=settings.chroma_url,
        embedding_cache=settings.embedding_cache
        or settings.var_dir / "chroma" / "embeddings.sqlite",
        collection=settings.knowledge_collection,
        embedding_model=settings.embedding_model,
        llm=llm,
        default_language=settings.default_language,
        related=settings.knowledge_related,
        cache_ttl_s=settings.knowledge_answer_cache_ttl_s,
        llm_verify=settings.knowledge_llm_verify,
        verify_band=settings.knowledge_llm_verify_band,
        query_repair=settings.knowledge_query_repair,
        target_abstention=settings.knowledge_target_abstention,
        # Thresholds set explicitly are the operator's choice: they win over the corpus's own.
        self_calibrate=settings.knowledge_self_calibrate
        and settings.knowledge_faq_threshold is None
        and settings.knowledge_answer_threshold is None,
    )
    if settings.knowledge_faq_threshold is not None:
        config = replace(config, faq_threshold=settings.knowledge_faq_threshold)
    if settings.knowledge_answer_threshold is not None:
        config = replace(config, answer_threshold=settings.knowledge_answer_threshold)
    return config


class _LazyOcr:
    """Images in the knowledge base go through the media module's OCR, loaded on first use (the
    action server, which only reads, never loads it)."""

    def __init__(self) -> None:
        self._engine: Any = None

    def __call__(self, path: Path) -> str:
        if self._engine is None:
            from channels.media import build_ocr_engine

            self._engine = build_ocr_engine("rapidocr")
        return str(self._engine.read(path).text)


def answer_cache(settings: Settings) -> AnswerCache | None:
    """The shared answer cache in Redis when one is configured (None: in memory per process)."""
    if not settings.knowledge_answer_cache_url:
        return None
    return RedisAnswerCache(
        settings.knowledge_answer_cache_url,
        prefix=f"kb-answers:{settings.knowledge_collection}",
        ttl_s=settings.knowledge_answer_cache_ttl_s,
    )


class RedisWriteLock:
    """One writer at a time of a knowledge base on a Chroma server, across replicas and the CLI
    (the server has no lock of its own, and a file lock holds on one machine only).

    A lease renewed while the write runs, so an ingestion of any length keeps it and a writer
    that dies frees it ``lease_s`` later; a writer that waits longer than ``wait_s`` gives up.
    """

    def __init__(self, url: str, name: str, lease_s: float = 30.0, wait_s: float = 600.0) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=10)
        self._name = name
        self._lease_s = lease_s
        self._wait_s = wait_s

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        lock = self._client.lock(
            self._name, timeout=self._lease_s, blocking_timeout=self._wait_s, thread_local=False
        )
        try:
            held = lock.acquire()
        except RedisError as exc:
            raise StoreUnavailable(
                f"the knowledge base's write lock in Redis cannot be taken ({exc}); is "
                "BOT_REDIS_URL's server running?"
            ) from exc
        if not held:
            raise StoreUnavailable(
                f"another process has been writing to the knowledge base for over "
                f"{self._wait_s:.0f} s; try again once its ingestion has finished"
            )
        done = threading.Event()
        renewing = threading.Thread(target=self._renew, args=(lock, done), daemon=True)
        renewing.start()
        try:
            yield
        finally:
            done.set()
            renewing.join()
            with contextlib.suppress(LockError, RedisError):
                lock.release()  # expired already: the lease ran out, nothing to free

    def _renew(self, lock: Any, done: threading.Event) -> None:
        while not done.wait(self._lease_s / 3):
            try:
                lock.reacquire()
            except (LockError, RedisError):
                logger.warning("Could not renew the knowledge base's write lock")


def write_lock(settings: Settings) -> RedisWriteLock | None:
    """The writers' lock shared through Redis when the knowledge base is on a Chroma server and a
    Redis is configured (the scale profile); None: the library's own (a file lock when
    embedded, none on a server without Redis)."""
    if not (settings.chroma_url and settings.redis_url):
        return None
    return RedisWriteLock(settings.redis_url, f"bot:kb-write:{settings.knowledge_collection}")


def open_knowledge_base(settings: Settings) -> KnowledgeBase:
    """The platform's knowledge base, with OCR for images."""
    return KnowledgeBase(
        knowledge_config(settings),
        detect_language=detect_language,
        image_to_text=_LazyOcr(),
        redact=redact,
        answer_cache=answer_cache(settings),
        write_lock=write_lock(settings),
        cacheable=_no_one_named,
    )


def _no_one_named(question: str) -> bool:
    """A question kept in the caches names no one (no phone, order number…): an erasure
    another process cannot reach leaves nothing there that points at the customer."""
    return not names_a_person(question)


class SharedKnowledge:
    """The hub's one knowledge base (admin API, agents' reply suggestions), opened on first use:
    it loads a model, which a hub that never needs it should not pay for."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._knowledge: KnowledgeBase | None = None

    def get(self) -> KnowledgeBase:
        with self._lock:
            if self._knowledge is None:
                self._knowledge = open_knowledge_base(self._settings)
            return self._knowledge

    def forget(self, questions: Sequence[str]) -> dict[str, int]:
        """Forget cached answers to and vectors of these questions (a customer's erasure): in
        this process's knowledge base when it is open, else in the shared answer cache and the
        embedding file (nothing is loaded for it)."""
        with self._lock:
            opened = self._knowledge
        if opened is not None:
            return opened.forget(questions)
        cache = answer_cache(self._settings)
        try:
            return forget_cached_questions(knowledge_config(self._settings), questions, cache)
        finally:
            if cache is not None:
                cache.close()

    def close(self) -> None:
        with self._lock:
            if self._knowledge is not None:
                self._knowledge.close()
                self._knowledge = None


def uploads_dir(settings: Settings) -> Path:
    """Where documents uploaded through the admin API are kept (they are the sources)."""
    return settings.var_dir / "knowledge" / "uploads"


def ingest_sources(settings: Settings) -> IngestReport:
    """Ingest the configured sources folder and the uploads; unchanged files cost nothing."""
    paths = [p for p in (settings.knowledge_sources, uploads_dir(settings)) if p.is_dir()]
    knowledge = open_knowledge_base(settings)
    try:
        report = knowledge.ingest(paths, progress=True)
    finally:
        knowledge.close()
    for source, reason in report.failed.items():
        logger.warning("Knowledge source %s was not ingested: %s", Path(source).name, reason)
    return report
