"""``python -m bot insights ...``: sentiment models, label spreading, churn and retention.

Every command prints JSON on stdout; progress and errors go to stderr.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bot.app._churn_features import (
    ChurnFeatureBuilder,
    load_model,
    midnight,
    proxy_labels,
    save_model,
    score_activity,
    train_on_activity,
)
from bot.app._churn_job import apply_retention, churn_model_path
from bot.app._cli_settings import cli_settings
from bot.app._container import (
    HubServices,
    build_hub_services,
    insights_vector_file,
    order_service,
)
from bot.insights import (
    AtRiskCustomer,
    ChurnDataError,
    ChurnScore,
    LabelledDataError,
    ModelFileError,
    RetentionDesk,
    RetentionError,
    VectorCache,
    build_shipped_models,
    build_tuned_polarity,
    evaluate_csv,
    load_polarity_model,
    read_churn_csv,
    read_labelled_csv,
    spread_labels,
    synthetic_churn_table,
    train_business,
    train_business_tuned,
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
    return VectorCache(E5Embedder(), insights_vector_file(cli_settings()))


def _progress(done: int, total: int) -> None:
    typer.echo(f"embedding {done}/{total}", err=True)


def _polarity_model(model: Path | None) -> Any:
    return load_polarity_model(model, _cache())


def _say(line: str) -> None:
    typer.echo(line, err=True)


@insights_app.command("sentiment-build")
def sentiment_build(
    tuned: Annotated[
        bool,
        typer.Option(
            "--tuned",
            help="Rebuild the tuned Chinese polarity model instead (LoRA on e5, about 5 "
            "minutes on 2 cores).",
        ),
    ] = False,
) -> None:
    """Rebuild the shipped polarity and emotion heads from the shipped data (deterministic)."""
    try:
        _echo(build_tuned_polarity(write=_say) if tuned else build_shipped_models(_cache()))
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
        Path | None,
        typer.Option(
            help="A model from sentiment-train (a .npz head, or a .safetensors fine-tuned "
            "model) instead of the shipped head."
        ),
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
    out: Annotated[Path | None, typer.Option(help="Where to write the trained model.")] = None,
    seed: int = 0,
    fine_tune: Annotated[
        bool,
        typer.Option(
            "--fine-tune",
            help="Fine-tune e5's layers too (minutes rather than seconds; better on the "
            "business's own wording); writes a .safetensors model.",
        ),
    ] = False,
    epochs: Annotated[
        int,
        typer.Option(
            min=1, max=20, help="With --fine-tune: epochs at most (the best on dev is kept)."
        ),
    ] = 5,
    from_scratch: Annotated[
        bool,
        typer.Option(
            "--from-scratch",
            help="With --fine-tune and positive/negative labels: tune e5 as it ships rather "
            "than going on from the shipped Chinese polarity model.",
        ),
    ] = False,
) -> None:
    """Train a head on the business's labelled CSV; report it on a 25 % validation split."""
    folder = cli_settings().var_dir / "insights"
    if from_scratch and not fine_tune:
        raise _fail(LabelledDataError("--from-scratch goes with --fine-tune"))
    try:
        rows = read_labelled_csv(data, text_col, label_col, positive)
        if fine_tune:
            target = out or folder / "sentiment-business-tuned.safetensors"
            _echo(train_business_tuned(rows, data, target, _say, seed, epochs, from_scratch))
        else:
            target = out or folder / "sentiment-business.npz"
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
            cooldown = timedelta(days=settings.retention_cooldown_days)
            return await work(RetentionDesk(database, ConsentService(database), cooldown=cooldown))
        finally:
            database.dispose()

    try:
        return asyncio.run(run())
    except RetentionError as exc:
        raise _fail(exc) from exc


def _read_rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise _fail(FileNotFoundError(f"{path} is not a file"))
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise _fail(ValueError(f"{path} lacks the columns {missing}"))
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise _fail(ValueError(f"{path} is not a readable UTF-8 CSV ({exc})")) from exc
    # A row with fewer fields than the header reads None: treat it as an empty value.
    return [{k: v or "" for k, v in row.items() if k is not None} for row in rows]


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


def _with_hub(work: Callable[[HubServices, ChurnFeatureBuilder], Awaitable[T]]) -> T:
    """Run ``work`` on the hub's services (database migrated first), then close them."""
    settings = cli_settings()

    async def run() -> T:
        hub = build_hub_services(settings)
        await hub.database.migrate()
        builder = ChurnFeatureBuilder(
            order_service(settings), hub.conversations, hub.handoffs, hub.tickets
        )
        try:
            return await work(hub, builder)
        finally:
            hub.tracker_events.dispose()
            hub.database.dispose()

    try:
        return asyncio.run(run())
    except (ChurnDataError, RetentionError) as exc:
        raise _fail(exc) from exc


def _model_path(model: Path | None) -> Path:
    return model or churn_model_path(cli_settings())


ModelOption = Annotated[
    Path | None,
    typer.Option(help="The churn model file (default var/insights/churn_model.joblib)."),
]


def _known_churners(path: Path, label_col: str) -> dict[str, int]:
    labels: dict[str, int] = {}
    for number, row in enumerate(_read_rows(path, ("customer_id", label_col))):
        value = (row[label_col] or "").strip().lower()
        if value not in ("yes", "no", "1", "0", "true", "false"):
            raise _fail(
                ValueError(f"row {number + 2}: {label_col} must be yes/no, 1/0, true/false")
            )
        labels[row["customer_id"].strip()] = int(value in ("yes", "1", "true"))
    return labels


@insights_app.command("churn-train")
def churn_train(
    labels: Annotated[
        Path | None,
        typer.Option(help="CSV of the shop's known churners: customer_id and the label column."),
    ] = None,
    label_col: Annotated[str, typer.Option("--label-col")] = "churned",
    proxy_days: Annotated[
        int,
        typer.Option(
            min=7,
            max=730,
            help="Without --labels: churned = no order in the N days after a cut-off N days "
            "ago; features count only what happened before the cut-off.",
        ),
    ] = 90,
    model: ModelOption = None,
    seed: int = 0,
) -> None:
    """Train the churn model on the platform's own customers (orders, conversations, handoffs,
    tickets, CSAT); prints the test-split figures and writes the model."""
    known = _known_churners(labels, label_col) if labels is not None else None
    target = _model_path(model)

    async def work(hub: HubServices, builder: ChurnFeatureBuilder) -> dict[str, Any]:
        orders = order_service(hub.settings)
        if known is not None:
            customers = set(await builder.customer_ids())
            found = {c: v for c, v in known.items() if c in customers}
            as_of = datetime.now(UTC)
            label_source = (
                f"known churners from {labels} ({len(known) - len(found)} ids the order "
                "store does not know were left out)"
            )
        else:
            cutoff = orders.today() - timedelta(days=proxy_days)
            as_of = midnight(cutoff)
            label_source = f"proxy: no order in the {proxy_days} days after {cutoff}"
            ids = await builder.customer_ids()
            history = {c: await asyncio.to_thread(orders.orders_of, c) for c in ids}
            found = proxy_labels(history, cutoff, proxy_days)
        activities = await builder.activities(as_of, found)
        fitted, report = await asyncio.to_thread(train_on_activity, activities, found, seed)
        save_model(fitted, target)
        return {"labels": label_source, "model_file": str(target), **asdict(report)}

    _echo(_with_hub(work))


def _write_scores(out: Path, scores: list[ChurnScore]) -> None:
    try:
        with out.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["customer_id", "channel", "risk", "value", "reasons_en"])
            for s in scores:
                row = [s.customer_id, s.channel, f"{s.risk:.4f}", s.value, " | ".join(s.reasons_en)]
                writer.writerow(row)
    except OSError as exc:
        raise ChurnDataError(f"cannot write {out} ({exc.strerror})") from exc


@insights_app.command("churn-score")
def churn_score(
    model: ModelOption = None,
    out: Annotated[Path | None, typer.Option(help="Also write the scores to this CSV.")] = None,
    top: Annotated[int, typer.Option(min=0, max=100)] = 10,
) -> None:
    """Score every customer with the trained model; stores risk and top 3 reasons (zh/en)."""
    path = _model_path(model)
    try:
        fitted = load_model(path)
    except ChurnDataError as exc:
        raise _fail(exc) from exc

    async def work(hub: HubServices, builder: ChurnFeatureBuilder) -> dict[str, Any]:
        activities = await builder.activities(datetime.now(UTC))
        scores = await asyncio.to_thread(score_activity, fitted, activities, path.name)
        riskiest = sorted(scores, key=lambda s: -s.risk)
        if out is not None:  # first: a path that cannot be written stops before anything is stored
            _write_scores(out, riskiest)
        stored = await hub.churn_scores.replace(scores)
        return {
            "scored": stored,
            "riskiest": [
                {"customer_id": s.customer_id, "risk": round(s.risk, 3), "reasons": s.reasons_en}
                for s in riskiest[:top]
            ],
        }

    _echo(_with_hub(work))


@insights_app.command("retention-run")
def retention_run() -> None:
    """Apply the retention rules to the stored churn scores, carrying out each treated action
    (coupon notice with marketing consent, priority routing, follow-up ticket); every decision is
    recorded, hold-outs included, and a customer is decided once per rule."""

    async def work(hub: HubServices, _builder: ChurnFeatureBuilder) -> dict[str, Any]:
        return await apply_retention(hub.retention_desk, hub.churn_scores)

    _echo(_with_hub(work))
