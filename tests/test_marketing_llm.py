"""Copy written by the bundled small LLM (Qwen2.5-Coder-0.5B over llama.cpp's OpenAI-compatible
server) through the hub's own writer: every variant is checked, none is trusted."""

from __future__ import annotations

from pathlib import Path

from bot.app import Settings
from bot.app._container import copy_writer
from bot.marketing import CopyBrief, CopyChecker, CopyDesk, Product
from bot.recommend import CATALOGUE, load_catalogue
from bot.storage import Database
from tests.test_knowledge_llm import llm_url

__all__ = ["llm_url"]  # the module-scoped LLM server fixture


async def test_llm_variants_are_checked_and_stored_for_review(llm_url: str, tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=tmp_path,
        llm_base_url=llm_url,
        llm_model="qwen",
        llm_timeout_s=300.0,  # a 0.5B model on two shared cores
    )
    writer = copy_writer(settings)
    assert writer is not None
    items, _ = load_catalogue(CATALOGUE)
    checker = CopyChecker({i.id: Product(i.id, i.name_zh, i.name_en, i.price) for i in items})

    async def catalogue() -> dict[str, Product]:
        return checker.catalogue

    database = Database(f"sqlite:///{tmp_path}/hub.db")
    await database.migrate()
    desk = CopyDesk(database, catalogue, writer)
    brief = CopyBrief(("EL-005",), discounts=(20.0,), claims=("free_shipping",), channel="sms")
    # Both languages in one test: LangChain's OpenAI client keeps its HTTP client per event
    # loop it first ran on, and each test has a loop of its own.
    drafted = []
    for language in ("en", "zh"):
        written = await desk.draft("llm-test", brief, language, n=2)
        assert 1 <= len(written) <= 2
        for variant in written:
            assert (variant.source, variant.language) == ("llm", language)
            problems = checker.check(variant.text, brief, language)
            assert variant.status == ("blocked" if problems else "pending")
            assert variant.problems == problems
        drafted += written
    assert await desk.variants("llm-test") == drafted
    database.dispose()
