"""A loopback stand-in for an OpenAI-compatible ``POST /v1/chat/completions``, answering as a
test says: shared by the tests of the LLM features (intent assist, knowledge verifier)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

from tests.launch import free_port

HANG = -1  # a status that makes the stand-in hold the request until the test ends


def completion(content: Any) -> bytes:
    """A chat-completions response body whose message content is ``content``."""
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "standin",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }
    return json.dumps(body).encode()


class Request(NamedTuple):
    """One request the stand-in received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class ChatStandIn:
    """The stand-in's address, how it replies (status and body for a request body; ``HANG``
    holds the request until the test ends) and the requests it received, in order."""

    url: str
    reply: Callable[[dict[str, Any]], tuple[int, bytes]]
    requests: list[Request] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


@contextmanager
def chat_standin(answer: str) -> Iterator[ChatStandIn]:
    """Serve the stand-in on a free loopback port; it answers ``answer`` until told otherwise."""
    port = free_port()
    state = ChatStandIn(f"http://127.0.0.1:{port}/v1", lambda body: (200, completion(answer)))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(Request(self.path, dict(self.headers), body))
            status, payload = state.reply(body)
            if status == HANG:
                state.release.wait()  # until the test is over: the client must give up first
                return
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: pytest shows failures, not every request."""

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join()
