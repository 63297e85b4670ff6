"""Benchmarks: each module runs with ``.venv/bin/python -m bench.<name>`` and prints JSON."""

from __future__ import annotations

import argparse


def add_embedding_threads(parser: argparse.ArgumentParser) -> None:
    """``--embedding-threads``: the e5 threads of a benchmark that embeds, as the servers run."""
    parser.add_argument(
        "--embedding-threads",
        type=int,
        default=1,
        help="Threads of each e5 embedding, as BOT_EMBEDDING_THREADS gives the servers (default 1, "
        "theirs); more make a short question spin for cores other processes hold.",
    )
