"""Churn risk from any customer table: calibrated model, honest metrics, SHAP reasons in words.

The same pipeline serves ``bot insights churn-eval`` (any tabular churn file) and the platform's
own customer features (``CustomerActivity`` rows from the wiring). Columns are read as numbers
when nearly all their values are numbers, else one-hot encoded; the model (gradient boosting or
logistic regression, whichever ranks better on the dev split) is calibrated on the dev split and
reported once on the test split.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from sklearn.calibration import CalibratedClassifierCV  # type: ignore[import-untyped]
from sklearn.ensemble import HistGradientBoostingClassifier  # type: ignore[import-untyped]
from sklearn.frozen import FrozenEstimator  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score  # type: ignore[import-untyped]
from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

logger = logging.getLogger(__name__)

POSITIVE_WORDS = frozenset({"1", "yes", "y", "true", "churn", "churned", "exited", "left", "是"})
NEGATIVE_WORDS = frozenset({"0", "no", "n", "false", "stayed", "retained", "active", "否"})
NUMERIC_SHARE = 0.95
MAX_LEVELS = 30
MAX_ROWS = 500_000
MIN_PER_CLASS = 10
Language = Literal["zh", "en"]


class ChurnDataError(ValueError):
    """A churn table cannot be used: missing file or column, unreadable labels, too few rows."""


@dataclass(frozen=True)
class Encoding:
    """How raw columns become model columns (learned on the training split only)."""

    numeric: dict[str, float]  # column -> median used for missing values
    categorical: dict[str, list[str]]  # column -> kept levels (others become "other")

    def transform(self, table: pd.DataFrame) -> pd.DataFrame:
        """Model columns of a raw table, in a fixed order."""
        parts: dict[str, Any] = {}
        for column, median in self.numeric.items():
            values = pd.to_numeric(table.get(column), errors="coerce")
            parts[column] = values.fillna(median).astype(float).to_numpy()
        for column, levels in self.categorical.items():
            raw = table[column].astype("string").fillna("missing").str.strip()
            raw = raw.where(raw.isin(levels), "other")
            for level in [*levels, "other"]:
                parts[f"{column}={level}"] = (raw == level).astype(float).to_numpy()
        return pd.DataFrame(parts, index=table.index)

    @classmethod
    def learn(cls, table: pd.DataFrame) -> Encoding:
        """Numeric where at least 95 % of the given values read as numbers, else categorical."""
        numeric: dict[str, float] = {}
        categorical: dict[str, list[str]] = {}
        for column in table.columns:
            given = table[column].dropna()
            given = given[given.astype(str).str.strip() != ""]
            values = pd.to_numeric(given, errors="coerce")
            if len(given) and values.notna().mean() >= NUMERIC_SHARE:
                median = float(values.median()) if values.notna().any() else 0.0
                numeric[str(column)] = median
            else:
                counts = table[column].astype("string").fillna("missing").str.strip()
                top = counts.value_counts().head(MAX_LEVELS).index
                categorical[str(column)] = [str(v) for v in top]
        return cls(numeric, categorical)


def binary_labels(values: pd.Series, positive: str | None) -> np.ndarray[Any, Any]:
    """1 for churned, 0 for stayed; ``positive`` names the churn value when words do not tell."""
    text = values.astype("string").str.strip()
    if positive is not None:
        if not (text == positive).any():
            raise ChurnDataError(f"no row has the label '{positive}'")
        chosen: np.ndarray[Any, Any] = (text == positive).to_numpy().astype(int)
        return chosen
    lowered = text.str.lower()
    seen = set(lowered.dropna().unique())
    unknown = seen - POSITIVE_WORDS - NEGATIVE_WORDS
    if unknown:
        raise ChurnDataError(
            f"labels {sorted(unknown)[:5]} are not yes/no, 1/0 or true/false; "
            "pass --positive VALUE to name the churn label"
        )
    churned: np.ndarray[Any, Any] = lowered.isin(POSITIVE_WORDS).to_numpy().astype(int)
    return churned


@dataclass(frozen=True)
class ChurnTable:
    """Features, labels (1 = churned) and customer ids of one table."""

    features: pd.DataFrame
    labels: np.ndarray[Any, Any]
    ids: list[str]


def read_churn_csv(
    path: Path, label_col: str, id_col: str | None = None, positive: str | None = None
) -> ChurnTable:
    """Any churn CSV: one row per customer, a label column, optionally an id column."""
    if not path.is_file():
        raise ChurnDataError(f"{path} is not a file")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=True, nrows=MAX_ROWS + 1)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ChurnDataError(f"{path} is not a readable UTF-8 CSV ({exc})") from exc
    if len(table) > MAX_ROWS:
        raise ChurnDataError(f"{path} has more than {MAX_ROWS} rows; sample it")
    for column in (label_col, id_col):
        if column is not None and column not in table.columns:
            raise ChurnDataError(
                f"{path} has no column '{column}' (its columns: {', '.join(table.columns)})"
            )
    table = table[table[label_col].notna()]
    labels = binary_labels(table[label_col], positive)
    ids = table[id_col].astype(str).tolist() if id_col else [str(i) for i in range(len(table))]
    features = table.drop(columns=[c for c in (label_col, id_col) if c is not None])
    if features.shape[1] == 0:
        raise ChurnDataError(f"{path} has no feature columns besides the label and id")
    return ChurnTable(features.reset_index(drop=True), labels, ids)


@dataclass
class ChurnModel:
    """A fitted, calibrated churn model with its encoding and an explainer."""

    encoding: Encoding
    kind: str
    estimator: Any  # the uncalibrated model, which SHAP explains
    calibrated: Any
    background: pd.DataFrame
    labels: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def risk(self, table: pd.DataFrame) -> np.ndarray[Any, Any]:
        """Calibrated probability of churn for each row."""
        return np.asarray(self.calibrated.predict_proba(self.encoding.transform(table))[:, 1])

    def contributions(self, table: pd.DataFrame) -> pd.DataFrame:
        """SHAP values (log-odds) of each model column for each row."""
        import shap  # type: ignore[import-untyped]  # heavy (numba): loaded only for explanations

        encoded = self.encoding.transform(table)
        if self.kind == "gradient_boosting":
            values = shap.TreeExplainer(self.estimator).shap_values(encoded)
        else:
            scaler, logistic = self.estimator[0], self.estimator[-1]
            explainer = shap.LinearExplainer(
                logistic, scaler.transform(self.encoding.transform(self.background))
            )
            values = explainer.shap_values(scaler.transform(encoded))
        matrix = np.asarray(values)
        if matrix.ndim == 3:  # some explainers answer one matrix per class
            matrix = matrix[..., -1]
        return pd.DataFrame(matrix, columns=encoded.columns, index=table.index)

    def reasons(self, row: pd.DataFrame, language: Language, top: int = 3) -> list[str]:
        """The ``top`` strongest reasons for one customer's risk, in words."""
        contributions = self.contributions(row).iloc[0]
        order = contributions.abs().sort_values(ascending=False).index[:top]
        return [self._words(str(c), row.iloc[0], float(contributions[c]), language) for c in order]

    def _words(self, column: str, raw: pd.Series, value: float, language: Language) -> str:
        name, _, level = column.partition("=")
        zh_name, en_name = self.labels.get(name, (name, name))
        # Always the customer's own value: a one-hot column "plan=No" also speaks for a customer
        # whose plan is "Yes" (its 0 moved the risk), and naming the column's level would say
        # the opposite of the truth.
        shown = _shown(raw.get(name)) if level else _number(raw.get(name))
        if language == "zh":
            direction = "提高" if value > 0 else "降低"
            return f"{zh_name}为{shown}，{direction}流失风险"
        direction = "raises" if value > 0 else "lowers"
        return f"{en_name} is {shown}, which {direction} the churn risk"


def _shown(value: Any) -> str:
    """A category as the customer's record has it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unknown"
    text = str(value).strip()
    return text or "unknown"


def _number(value: Any) -> str:
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    if pd.isna(number):
        return "unknown"
    return f"{number:g}" if math.isfinite(number) else str(number)


@dataclass(frozen=True)
class ChurnReport:
    """Test-split figures of a churn model and its strongest features."""

    rows: int
    churn_rate: float
    model: str
    dev_roc_auc: dict[str, float]
    test: dict[str, float]
    top_features: list[tuple[str, float]]
    example_reasons: dict[str, list[str]]


def _candidates(seed: int) -> dict[str, Any]:
    return {
        "gradient_boosting": HistGradientBoostingClassifier(
            max_iter=120, learning_rate=0.1, max_leaf_nodes=15, random_state=seed
        ),
        "logistic": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.5)),
    }


def train_churn(
    table: ChurnTable,
    seed: int = 0,
    labels: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[ChurnModel, ChurnReport]:
    """Stratified 60/20/20 split: fit on train, choose and calibrate on dev, report on test."""
    counts = np.bincount(table.labels, minlength=2)
    if counts.min() < MIN_PER_CLASS:
        raise ChurnDataError(
            f"need at least {MIN_PER_CLASS} churned and {MIN_PER_CLASS} staying customers; "
            f"found {counts[1]} and {counts[0]}"
        )
    index = np.arange(len(table.labels))
    train_idx, rest = train_test_split(
        index, test_size=0.4, random_state=seed, stratify=table.labels
    )
    dev_idx, test_idx = train_test_split(
        rest, test_size=0.5, random_state=seed, stratify=table.labels[rest]
    )
    raw = table.features
    encoding = Encoding.learn(raw.iloc[train_idx])
    x_train, x_dev, x_test = (
        encoding.transform(raw.iloc[i]) for i in (train_idx, dev_idx, test_idx)
    )
    y_train, y_dev, y_test = (table.labels[i] for i in (train_idx, dev_idx, test_idx))
    dev_auc: dict[str, float] = {}
    fitted: dict[str, Any] = {}
    for name, estimator in _candidates(seed).items():
        estimator.fit(x_train, y_train)
        fitted[name] = estimator
        dev_auc[name] = round(float(roc_auc_score(y_dev, estimator.predict_proba(x_dev)[:, 1])), 4)
    kind = max(dev_auc, key=lambda name: dev_auc[name])
    calibrated = CalibratedClassifierCV(FrozenEstimator(fitted[kind]), method="sigmoid")
    calibrated.fit(x_dev, y_dev)
    background = raw.iloc[train_idx].sample(min(200, len(train_idx)), random_state=seed)
    model = ChurnModel(encoding, kind, fitted[kind], calibrated, background, labels or {})
    risk = calibrated.predict_proba(x_test)[:, 1]
    test_rows = raw.iloc[test_idx]
    importance = model.contributions(test_rows).abs().mean().sort_values(ascending=False)
    riskiest = int(np.argmax(risk))
    example = test_rows.iloc[[riskiest]]
    report = ChurnReport(
        rows=len(table.labels),
        churn_rate=round(float(table.labels.mean()), 4),
        model=kind,
        dev_roc_auc=dev_auc,
        test={
            "roc_auc": round(float(roc_auc_score(y_test, risk)), 4),
            "pr_auc": round(float(average_precision_score(y_test, risk)), 4),
            "brier": round(float(brier_score_loss(y_test, risk)), 4),
            "n": len(test_idx),
        },
        top_features=[(str(k), round(float(v), 4)) for k, v in importance.head(10).items()],
        example_reasons={
            "customer": [table.ids[test_idx[riskiest]]],
            "zh": model.reasons(example, "zh"),
            "en": model.reasons(example, "en"),
        },
    )
    return model, report


def synthetic_churn_table(rows: int = 3000, seed: int = 7) -> pd.DataFrame:
    """A made-up shop's customers whose churn follows known rules plus noise (for tests and demos).

    Churn grows with days since the last order, complaints, handoffs, negative sentiment and
    breached tickets, and falls with orders and CSAT; the plan and region columns are mostly noise.
    """
    rng = np.random.default_rng(seed)
    recency = rng.exponential(40, rows).round()
    orders = rng.poisson(4, rows)
    spend = np.round(orders * rng.gamma(2.0, 80.0, rows), 2)
    complaints = rng.poisson(0.6, rows)
    handoffs = rng.poisson(0.5, rows)
    sentiment = np.clip(rng.normal(0.1, 0.35, rows), -1, 1).round(3)
    breached = rng.binomial(2, 0.1, rows)
    csat = np.where(rng.random(rows) < 0.3, np.nan, rng.integers(1, 6, rows))
    plan = rng.choice(["basic", "plus", "vip"], rows, p=[0.6, 0.3, 0.1])
    region = rng.choice(["north", "south", "east", "west"], rows)
    logit = (
        -1.6
        + 0.025 * recency
        - 0.25 * orders
        + 0.5 * complaints
        + 0.45 * handoffs
        - 1.4 * sentiment
        + 0.6 * breached
        - 0.35 * np.nan_to_num(csat - 3)
        - 0.6 * (plan == "vip")
    )
    churned = rng.random(rows) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(rows)],
            "days_since_last_order": recency,
            "orders": orders,
            "spend": spend,
            "complaints": complaints,
            "handoffs": handoffs,
            "sentiment_mean": sentiment,
            "breached_tickets": breached,
            "csat": csat,
            "plan": plan,
            "region": region,
            "churned": np.where(churned, "yes", "no"),
        }
    )


def as_table(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Plain feature rows (one dict per customer) as a table the model reads."""
    return pd.DataFrame(list(rows))
