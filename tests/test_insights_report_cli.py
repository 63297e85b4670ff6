"""``python -m bot insights report|refresh``: JSON on stdout, an HTML report, errors said."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from bot.app import Settings, app
from bot.storage import Database, Message
from tests.test_insights_analytics import synthetic_log


def _run(args: list[str], var_dir: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args, env={"BOT_VAR_DIR": str(var_dir)})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def var_dir(tmp_path: Path) -> Path:
    """A hub database holding the synthetic log."""
    settings = Settings(_env_file=None, var_dir=tmp_path)  # type: ignore[call-arg]
    database = Database(settings.hub_database_url)

    async def fill() -> None:
        await database.migrate()
        await database.transaction(synthetic_log)

    with ThreadPoolExecutor(1) as pool:  # the test's own thread may run an event loop
        pool.submit(asyncio.run, fill()).result()
    database.dispose()
    return tmp_path


def test_report_prints_json_and_writes_html(var_dir: Path) -> None:
    html = var_dir / "report.html"
    code, out, err = _run(
        ["insights", "report", "--from", "2026-11-01", "--to", "2026-11-12", "--granularity",
         "week", "--html", str(html)],
        var_dir,
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["totals"]["conversations"] == 4
    assert [p["period"] for p in report["series"]] == ["2026-11-02", "2026-11-09"]
    page = html.read_text(encoding="utf-8")
    assert '<div class="kpi" id="kpi-conversations">conversations<b>4</b></div>' in page
    assert page.count("<rect") == 4  # conversations and handoffs of two weeks
    assert "<script" not in page
    assert "=SUM(A1) refund [phone]" in page  # the unanswered question, redacted


def test_customer_text_is_escaped_in_the_html(var_dir: Path) -> None:
    database = Database(f"sqlite:///{var_dir}/hub.db")
    with database.engine.begin() as connection:
        connection.execute(
            update(Message).where(Message.id == 5).values(text="<script>alert(1)</script>")
        )
    database.dispose()
    html = var_dir / "report.html"
    code, _out, err = _run(
        ["insights", "report", "--from", "2026-11-01", "--to", "2026-11-12", "--html", str(html)],
        var_dir,
    )
    assert code == 0, err
    page = html.read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-11-31"], "--from must be a date as YYYY-MM-DD"),
        (["--from", "2026-11-12", "--to", "2026-11-01"], "is before 'from'"),
        (["--from", "2026-11-01", "--to", "2026-11-02", "--granularity", "hour"], "granularity"),
    ],
)
def test_bad_input_exits_2_and_says_why(var_dir: Path, args: list[str], message: str) -> None:
    code, _out, err = _run(["insights", "report", *args], var_dir)
    assert code == 2
    assert message in err


def test_refresh_recomputes_a_range(var_dir: Path) -> None:
    code, out, err = _run(
        ["insights", "refresh", "--from", "2026-11-01", "--to", "2026-11-12"], var_dir
    )
    assert code == 0, err
    assert json.loads(out)["rows"] > 0
