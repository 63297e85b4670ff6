"""``python -m bot kb ...``: ingest, ask, stats, delete and evaluate the knowledge base, and list
what it could not answer.

Every command prints its result as JSON on stdout; errors go to stderr with exit code 2.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bot.app._cli_settings import cli_settings
from bot.app._container import build_hub_services
from bot.app._knowledge import knowledge_config, open_knowledge_base
from bot.language import detect_language
from knowledge import KnowledgeBase, KnowledgeError, evaluate, grounding_report

logger = logging.getLogger(__name__)

kb_app = typer.Typer(help="The knowledge base.", no_args_is_help=True)
T = TypeVar("T")


def _echo(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@contextmanager
def _knowledge() -> Iterator[KnowledgeBase]:
    knowledge = _guard(lambda: open_knowledge_base(cli_settings()))
    try:
        yield knowledge
    finally:
        knowledge.close()


def _guard(work: Callable[[], T]) -> T:
    try:
        return work()
    except (KnowledgeError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc


@kb_app.command("ingest")
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders of documents and FAQs.")],
    progress: bool = typer.Option(True, help="Show a progress bar on stderr."),
) -> None:
    """Add new and changed files, skip unchanged ones, drop files deleted from a folder."""
    with _knowledge() as knowledge:
        report = _guard(lambda: knowledge.ingest(paths, progress=progress))
    _echo(report.to_dict())
    if report.failed:
        raise typer.Exit(code=1)


@kb_app.command("ask")
def ask(
    question: str = typer.Argument(..., help="The customer's question."),
    language: str | None = typer.Option(None, help="zh or en; detected from the question."),
    category: str | None = typer.Option(None, help="Only this category (shipping, returns…)."),
) -> None:
    """Answer a question: JSON with answer, citations, abstained and kind."""
    filters = {"category": category} if category else {}
    with _knowledge() as knowledge:
        answer = _guard(lambda: knowledge.answer(question, language, filters))
    _echo(answer.to_dict())


@kb_app.command("stats")
def stats(
    sources: bool = typer.Option(False, "--sources", help="List every source too."),
) -> None:
    """What the knowledge base holds, the thresholds it answers with (self-calibrated or
    configured, and how they were derived) and the answer cache's hit rate and latency."""
    with _knowledge() as knowledge:
        data = _guard(knowledge.stats)
        if sources:
            data["source_list"] = [s.to_dict() for s in _guard(knowledge.sources)]
    _echo(data)


@kb_app.command("calibrate")
def calibrate_command() -> None:
    """Derive the thresholds from the corpus itself again (every ingestion that changes
    something does it) and print them with how they were derived."""
    with _knowledge() as knowledge:
        calibration = _guard(knowledge.calibrate)
    _echo(calibration.to_dict())


@kb_app.command("unanswered")
def unanswered_command(
    days: Annotated[int, typer.Option(min=1, max=366, help="How far back to look.")] = 30,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 50,
) -> None:
    """What customers asked that the knowledge base could not answer, most asked first
    (personal data redacted), from the hub's stored conversations."""
    hub = build_hub_services(cli_settings())

    async def read() -> dict[str, Any]:
        try:
            await hub.database.migrate()
            return await hub.knowledge_gaps(days, limit)
        finally:
            hub.database.dispose()
            hub.knowledge.close()

    _echo(asyncio.run(read()))


@kb_app.command("delete")
def delete(
    source: str = typer.Argument(..., help="The source's path, file name or document id."),
) -> None:
    """Remove a source's chunks from the knowledge base (the file itself stays)."""
    with _knowledge() as knowledge:
        key = _guard(lambda: knowledge.resolve_source(source))
        chunks = _guard(lambda: knowledge.delete(key))
    _echo({"deleted": key, "chunks_deleted": chunks})


@kb_app.command("eval")
def eval_command(
    corpus: Annotated[Path, typer.Option(help="A FAQ JSONL file or a folder of documents.")],
    qa: Annotated[
        Path,
        typer.Option(help='Dev split: JSONL of {"question", "relevant_ids": [...]}; calibrates.'),
    ],
    test_qa: Annotated[
        Path | None,
        typer.Option(help="Test split, reported once with the thresholds the dev split chose."),
    ] = None,
    faq_threshold: Annotated[
        float | None, typer.Option(help="Override BOT_KNOWLEDGE_FAQ_THRESHOLD.")
    ] = None,
    answer_threshold: Annotated[
        float | None, typer.Option(help="Override BOT_KNOWLEDGE_ANSWER_THRESHOLD.")
    ] = None,
    grounding: Annotated[
        Path | None,
        typer.Option(
            help="(answer, passage) pairs to score the grounding check of generated answers on; "
            "the shipped test pairs are knowledge/eval/grounding_test.jsonl."
        ),
    ] = None,
    misses: bool = typer.Option(False, help="List the questions ranked wrong."),
    progress: bool = typer.Option(True, help="Show progress bars on stderr."),
) -> None:
    """Ingest a corpus into a temporary collection, ask the QA set, print the measures."""
    settings = cli_settings()
    config = replace(knowledge_config(settings), llm=None)
    if faq_threshold is not None:
        config = replace(config, faq_threshold=faq_threshold, self_calibrate=False)
    if answer_threshold is not None:
        config = replace(config, answer_threshold=answer_threshold, self_calibrate=False)
    report = _guard(
        lambda: evaluate(
            corpus,
            qa,
            config,
            detect_language=detect_language,
            test_qa=test_qa,
            progress=progress,
        )
    ).to_dict()
    if grounding is not None:
        checked = _guard(lambda: grounding_report(grounding)).to_dict()
        if not misses:
            checked.pop("mistakes")
        report["grounding"] = checked
    if not misses:
        report.pop("misses")
    _echo(report)
