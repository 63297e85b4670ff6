"""``python -m bot insights ...``: sentiment models, label spreading, churn and retention.

Every command prints JSON on stdout; progress and errors go to stderr.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bot.app._cli_settings import cli_settings
from bot.insights import (
    AtRiskCustomer,
    ChurnDataError,
    LabelledDataError,
    LinearHead,
    ModelFileError,
    RetentionDesk,
    RetentionError,
    VectorCache,
    build_shipped_models,
    evaluate_csv,
    read_churn_csv,
    read_labelled_csv,
    spread_labels,
    synthetic_churn_table,
    train_business,
    train_churn,
)
from bot.privacy import ConsentService
from bot.storage import Database
from knowledge import E5Embedder, KnowledgeError

insights_app = typer.Typer(
    help="Sentiment, emotion, churn and retention (JSON on stdout).", no_args_is_help=True
)
T = TypeVar("T")
DataOption = Annotated[Path, typer.Option("--data", help="A UTF-8 CSV file with a header row.")]
TextCol = Annotated[str, typer.Option("--text-col", help="Column holding the text.")]
LabelCol = Annotated[str, typer.Option("--label-col", help="Column holding the label.")]


def _echo(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=2)


def _cache() -> VectorCache:
    """e5 vectors cached under ``var/insights`` (a second run over the same texts is quick)."""
    return VectorCache(E5Embedder(), cli_settings().var_dir / "insights" / "e5-cache.npz")


def _progress(done: int, total: int) -> None:
    typer.echo(f"embedding {done}/{total}", err=True)


def _polarity_model(model: Path | None) -> LinearHead:
    from bot.insights import POLARITY_MODEL

    return LinearHead.load(model or POLARITY_MODEL)


@insights_app.command("sentiment-build")
def sentiment_build() -> None:
    """Rebuild the shipped polarity and emotion heads from the shipped data (deterministic)."""
    try:
        _echo(build_shipped_models(_cache()))
    except (KnowledgeError, ModelFileError) as exc:
        raise _fail(exc) from exc


@insights_app.command("sentiment-eval")
def sentiment_eval(
    data: DataOption,
    text_col: TextCol,
    label_col: LabelCol,
    positive: Annotated[
        str | None, typer.Option(help="The label value meaning positive; others are negative.")
    ] = None,
    model: Annotated[
        Path | None, typer.Option(help="A head from sentiment-train instead of the shipped one.")
    ] = None,
) -> None:
    """Accuracy and macro-F1 of the e5 model and of snownlp/VADER, side by side."""
    try:
        rows = read_labelled_csv(data, text_col, label_col, positive)
        _echo(evaluate_csv(rows, _polarity_model(model), _cache(), _progress))
    except (LabelledDataError, ModelFileError, KnowledgeError) as exc:
        raise _fail(exc) from exc


@insights_app.command("sentiment-train")
def sentiment_train(
    data: DataOption,
    text_col: TextCol,
    label_col: LabelCol,
    positive: Annotated[str | None, typer.Option(help="Binarize: this value is positive.")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the trained head.")] = None,
    seed: int = 0,
) -> None:
    """Train a head on the business's labelled CSV; report it on a 25 % validation split."""
    target = out or cli_settings().var_dir / "insights" / "sentiment-business.npz"
    try:
        rows = read_labelled_csv(data, text_col, label_col, positive)
        _echo(train_business(rows, data, _cache(), target, _progress, seed))
    except (LabelledDataError, KnowledgeError) as exc:
        raise _fail(exc) from exc


@insights_app.command("label-spread")
def label_spread(
    data: DataOption,
    text_col: TextCol,
    label_col: LabelCol,
    out: Annotated[Path, typer.Option(help="CSV to write: text, label, confidence.")],
    seed: int = 0,
) -> None:
    """Spread a few labels over the unlabelled rows (blank label) with LabelSpreading."""
    try:
        rows = read_labelled_csv(data, text_col, label_col, allow_unlabelled=True)
        spread, report = spread_labels(rows, data, _cache(), _progress, seed)
    except (LabelledDataError, KnowledgeError) as exc:
        raise _fail(exc) from exc
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([text_col, label_col, "confidence"])
        writer.writerows(spread)
    _echo({**report, "written": str(out)})


@insights_app.command("churn-eval")
def churn_eval(
    data: DataOption,
    label_col: LabelCol,
    id_col: Annotated[str | None, typer.Option("--id-col", help="Customer id column.")] = None,
    positive: Annotated[str | None, typer.Option(help="The label value meaning churned.")] = None,
    seed: int = 0,
) -> None:
    """Any churn table: stratified split, calibrated model, ROC/PR AUC, Brier, top features."""
    try:
        table = read_churn_csv(data, label_col, id_col, positive)
        _model, report = train_churn(table, seed)
    except ChurnDataError as exc:
        raise _fail(exc) from exc
    _echo(asdict(report))


@insights_app.command("churn-synthetic")
def churn_synthetic(
    out: Annotated[Path, typer.Option(help="CSV to write.")],
    rows: Annotated[int, typer.Option(min=100, max=1_000_000)] = 3000,
    seed: int = 7,
) -> None:
    """Write a synthetic churn table with known rules (label column ``churned``)."""
    synthetic_churn_table(rows, seed).to_csv(out, index=False)
    _echo({"written": str(out), "rows": rows, "label_col": "churned", "id_col": "customer_id"})


def _with_desk(work: Callable[[RetentionDesk], Awaitable[T]]) -> T:
    settings = cli_settings()

    async def run() -> T:
        database = Database(settings.hub_database_url)
        try:
            await database.migrate()
            return await work(RetentionDesk(database, ConsentService(database)))
        finally:
            database.dispose()

    try:
        return asyncio.run(run())
    except RetentionError as exc:
        raise _fail(exc) from exc


def _read_rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise _fail(FileNotFoundError(f"{path} is not a file"))
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise _fail(ValueError(f"{path} lacks the columns {missing}"))
        return list(reader)


@insights_app.command("retention-apply")
def retention_apply(
    scores: Annotated[Path, typer.Option(help="CSV: customer_id, channel, risk, value.")],
) -> None:
    """Apply the retention rules to scored customers; every decision is recorded."""
    customers: list[AtRiskCustomer] = []
    for number, row in enumerate(_read_rows(scores, ("customer_id", "channel", "risk", "value"))):
        try:
            risk, value = float(row["risk"]), float(row["value"])
        except ValueError as exc:
            raise _fail(ValueError(f"row {number + 2}: risk and value must be numbers")) from exc
        if not 0.0 <= risk <= 1.0 or not row["customer_id"].strip():
            raise _fail(ValueError(f"row {number + 2}: risk in [0, 1] and a customer id needed"))
        customers.append(AtRiskCustomer(row["customer_id"].strip(), row["channel"], risk, value))
    decisions = _with_desk(lambda desk: desk.act(customers))
    _echo([asdict(d) for d in decisions])


@insights_app.command("retention-outcomes")
def retention_outcomes(
    outcomes: Annotated[Path, typer.Option(help="CSV: customer_id, retained (yes/no or 1/0).")],
) -> None:
    """Record whether decided customers stayed, then print uplift per rule."""
    known: dict[str, bool] = {}
    for number, row in enumerate(_read_rows(outcomes, ("customer_id", "retained"))):
        value = row["retained"].strip().lower()
        if value not in ("yes", "no", "1", "0", "true", "false"):
            raise _fail(ValueError(f"row {number + 2}: retained must be yes/no, 1/0, true/false"))
        known[row["customer_id"].strip()] = value in ("yes", "1", "true")

    async def work(desk: RetentionDesk) -> dict[str, Any]:
        changed = await desk.record_outcomes(known)
        uplift = [{**asdict(u), "uplift": u.uplift} for u in await desk.uplift()]
        return {"recorded": changed, "uplift": uplift}

    _echo(_with_desk(work))


@insights_app.command("retention-uplift")
def retention_uplift() -> None:
    """Treated vs hold-out retained shares per rule."""

    async def work(desk: RetentionDesk) -> list[dict[str, Any]]:
        return [{**asdict(u), "uplift": u.uplift} for u in await desk.uplift()]

    _echo(_with_desk(work))
