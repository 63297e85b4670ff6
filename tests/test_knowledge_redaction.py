"""Personal data in a question never reaches the LLM: the platform's redactor runs first.

An HTTP server on a free port stands in for the OpenAI-compatible endpoint and keeps every
request it gets, so the test reads exactly what would have left the machine.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bot.language import detect_language
from bot.privacy import redact
from knowledge import E5Embedder, KnowledgeBase, KnowledgeConfig, LLMConfig
from tests.test_knowledge_llm import RETURNS_EN


class _Endpoint(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Endpoint.received.append(body)
        reply = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "stand-in",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {
                        "role": "assistant",
                        "content": "Refunds arrive within 3–5 business days [1].",
                    },
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: Any) -> None:
        return None  # the test reads the requests, not the server's log


@pytest.fixture
def endpoint() -> Iterator[str]:
    _Endpoint.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_the_question_is_redacted_before_it_leaves(endpoint: str, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "returns.en.md").write_text(RETURNS_EN, encoding="utf-8")
    config = KnowledgeConfig(
        persist_dir=tmp_path / "chroma",
        answer_threshold=0.8,
        llm=LLMConfig(base_url=endpoint, model="stand-in", timeout_s=30),
    )
    kb = KnowledgeBase(
        config, detect_language=detect_language, embedder=E5Embedder(), redact=redact
    )
    try:
        kb.ingest([tmp_path / "docs"])
        kb.answer(
            "I'm 13812345678, mail me at li.lei@example.com: how long until my refund arrives "
            "after I send the item back?"
        )
    finally:
        kb.close()
    assert _Endpoint.received, "the question was not sent to the model at all"
    sent = json.dumps(_Endpoint.received, ensure_ascii=False)
    assert "13812345678" not in sent
    assert "li.lei@example.com" not in sent
    assert "how long until my refund arrives" in sent
