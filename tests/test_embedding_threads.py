"""The bundled e5 engine's thread count: set per process before it loads, no leak to others."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bot.app import PROJECT_ROOT
from knowledge import set_embedding_threads

PROBE = """
import json, os, sys
from knowledge import E5Embedder, set_embedding_threads
threads = json.loads(sys.argv[1])
set_embedding_threads(threads)
before = len(os.listdir("/proc/self/task"))
E5Embedder().embed_queries(["我的订单到哪了", "where is my order"])
print(json.dumps({
    "new_os_threads": len(os.listdir("/proc/self/task")) - before,
    "omp_env_after": os.environ.get("OMP_NUM_THREADS"),
}))
"""


def probe(threads: int | None, env_omp: str | None = None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if env_omp is not None:
        env["OMP_NUM_THREADS"] = env_omp
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(threads)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_one_thread_starts_no_worker_threads_and_two_start_one() -> None:
    one, two = probe(1), probe(2)
    # OpenMP's team for two threads is the caller plus one worker it starts on first use.
    assert one["new_os_threads"] == 0
    assert two["new_os_threads"] == 1
    # The variable was set only while the engine loaded: nothing else in the process sees it.
    assert one["omp_env_after"] is None
    assert two["omp_env_after"] is None


def test_a_count_given_leaves_the_processs_own_variable_as_it_was() -> None:
    assert probe(1, env_omp="2")["omp_env_after"] == "2"


def test_unset_keeps_openmps_own_default() -> None:
    assert probe(None, env_omp="1")["new_os_threads"] == 0


@pytest.mark.parametrize("bad", [0, -3])
def test_a_count_below_one_is_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        set_embedding_threads(bad)
