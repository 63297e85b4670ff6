"""A customer's erasure reaches the caches that keep what they wrote: the knowledge base's
answer cache shared in Redis (written by another process, as the action server does), its
embedding file, and the insights commands' vector file; and a question that names someone is
never kept in those caches to begin with. The real hub, real SQLite, a private Redis, e5."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from bot.app import Settings, create_app
from bot.app._container import insights_vector_file
from bot.app._knowledge import open_knowledge_base
from bot.insights import VectorCache
from knowledge import E5Embedder
from tests.launch import free_port
from tests.servers import redis_server
from tests.test_privacy_rights import ADMIN_AUTH, make_settings, say

CUSTOMER = "customer-cache"
OTHER = "customer-other"
ASKED = "Do you sell gift cards?"
NAMED = "Do you sell gift cards? My order is YX2611010001"
FAQ = [
    {"id": "gift", "question": "Do you sell gift cards?", "answer": "Yes, at the front desk."},
    {"id": "park", "question": "Where can I park?", "answer": "Behind the building."},
]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Settings:
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "faq.jsonl").write_text("\n".join(json.dumps(row) for row in FAQ), encoding="utf-8")
    return make_settings(
        tmp_path / "var",
        tmp_path / "embeddings.sqlite",
        knowledge_sources=sources,
        knowledge_answer_cache_url=redis_url,
        knowledge_collection=f"erasure{tmp_path.name[-6:]}",
    )


def test_erasure_empties_the_caches_another_process_filled(settings: Settings) -> None:
    # The action server's knowledge base (another process, sharing Redis and the files).
    actions_kb = open_knowledge_base(settings)
    try:
        actions_kb.ingest([settings.knowledge_sources])
        for question in (ASKED, NAMED, "Where can I park?"):
            assert actions_kb.answer(question, "en").cached is False
        # The question with an order number was answered, and kept nowhere.
        assert actions_kb.answer(NAMED, "en").cached is False
        assert actions_kb.answer(ASKED, "en").cached is True
        assert actions_kb.stats()["answer_cache"]["entries"] == 2
        # The insights commands cached vectors of texts they were given.
        vectors = VectorCache(E5Embedder(), insights_vector_file(settings))
        vectors.embed([ASKED, "Where can I park?"])
        assert len(VectorCache(E5Embedder(), insights_vector_file(settings))) == 2

        with TestClient(create_app(settings)) as client:
            say(client, CUSTOMER, ASKED)
            say(client, CUSTOMER, NAMED)
            say(client, OTHER, "Where can I park?")
            response = client.request(
                "DELETE",
                f"/admin/privacy/customers/rest/{CUSTOMER}",
                json={"reason": "customer request"},
                headers=ADMIN_AUTH,
            )
            assert response.status_code == 200, response.text
            erased = response.json()["conversations"]
            assert {k: erased[k] for k in ("messages", "cached_answers")} == {
                "messages": 2,
                "cached_answers": 1,
            }
            assert erased["insights_vectors"] == 1
            assert erased["emotion_vectors"] == 2  # the hub read both messages' emotions

            # Erasing again finds nothing and forgets nothing.
            again = client.request(
                "DELETE",
                f"/admin/privacy/customers/rest/{CUSTOMER}",
                json={"reason": "customer request"},
                headers=ADMIN_AUTH,
            )
            assert again.status_code == 200, again.text
            assert again.json()["conversations"]["messages"] == 0

        # The other process answers the erased customer's question afresh; the other
        # customer's question is still served from the cache.
        assert actions_kb.answer(ASKED, "en").cached is False
        assert actions_kb.answer("Where can I park?", "en").cached is True
        kept = VectorCache(E5Embedder(), insights_vector_file(settings))
        assert len(kept) == 1
    finally:
        actions_kb.close()


def test_an_unreachable_shared_cache_fails_the_erasure_and_keeps_the_messages(
    tmp_path: Path,
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = make_settings(
        tmp_path / "var", tmp_path / "embeddings.sqlite", knowledge_answer_cache_url=dead
    )
    with TestClient(create_app(settings)) as client:
        say(client, CUSTOMER, ASKED)
        response = client.request(
            "DELETE",
            f"/admin/privacy/customers/rest/{CUSTOMER}",
            json={"reason": "customer request"},
            headers=ADMIN_AUTH,
        )
        assert response.status_code == 503, response.text
        assert "answer cache in Redis cannot be reached" in response.text
        # The messages are still there: the erasure can be asked again once Redis is back.
        exported = client.get(
            f"/admin/privacy/customers/rest/{CUSTOMER}/export", headers=ADMIN_AUTH
        )
        assert exported.status_code == 200, exported.text
        with zipfile.ZipFile(io.BytesIO(exported.content)) as bundle:
            data = json.loads(bundle.read("data.json"))
        assert [m["text"] for m in data["conversation"]["messages"]] == [ASKED]


def test_closing_a_knowledge_base_closes_its_shared_cache(
    settings: Settings, redis_url: str
) -> None:
    """Closing releases the Redis connection at once (it outlives the object otherwise), so a
    command that opens and closes knowledge bases (ingestion, an erasure) holds none open."""
    watcher = redis.Redis.from_url(redis_url)
    try:
        before = len(watcher.client_list())
        knowledge = open_knowledge_base(settings)
        knowledge.ingest([settings.knowledge_sources])
        knowledge.answer(ASKED, "en")
        assert len(watcher.client_list()) == before + 1
        knowledge.close()
        assert len(watcher.client_list()) == before
    finally:
        watcher.close()
