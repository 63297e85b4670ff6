"""Churn evaluation on synthetic tables with known rules: metrics, reasons, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped]
import pytest
from typer.testing import CliRunner

from bot.app._cli import app
from bot.insights import ChurnDataError, read_churn_csv, synthetic_churn_table, train_churn


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("BOT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("BOT_LOG_LEVEL", "WARNING")
    return CliRunner()


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "churn.csv"
    frame = synthetic_churn_table(rows=800, seed=3)
    # What real exports look like: numbers with stray text, blanks, a label in words.
    frame["spend"] = frame["spend"].astype(str)
    frame.loc[::50, "spend"] = "n/a"
    frame.loc[::40, "plan"] = None
    frame.to_csv(path, index=False)
    return path


def test_churn_eval_prints_calibrated_metrics_and_top_features(
    runner: CliRunner, table: Path
) -> None:
    result = runner.invoke(
        app,
        [
            "insights",
            "churn-eval",
            "--data",
            str(table),
            "--label-col",
            "churned",
            "--id-col",
            "customer_id",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows"] == 800
    assert report["model"] in ("gradient_boosting", "logistic")
    test = report["test"]
    assert test["n"] == 160
    # The generator's signal is strong enough to rank well above chance, and calibrated
    # probabilities keep the Brier score below always guessing the base rate.
    assert test["roc_auc"] > 0.7
    base_rate = report["churn_rate"]
    assert test["brier"] < base_rate * (1 - base_rate)
    top = [name for name, _ in report["top_features"][:3]]
    assert "days_since_last_order" in top
    assert "customer_id" not in json.dumps(report["top_features"])
    reasons = report["example_reasons"]
    assert len(reasons["zh"]) == len(reasons["en"]) == 3
    assert all("流失风险" in r for r in reasons["zh"])
    assert all("churn risk" in r for r in reasons["en"])


def test_reasons_name_the_customer_values(table: Path) -> None:
    data = read_churn_csv(table, "churned", "customer_id")
    model, _ = train_churn(data, seed=1, labels={"complaints": ("投诉次数", "complaints")})
    row = data.features.iloc[[0]].copy()
    row["complaints"] = "9"
    row["days_since_last_order"] = "400"
    risky = model.risk(row)[0]
    row_calm = row.copy()
    row_calm["complaints"] = "0"
    row_calm["days_since_last_order"] = "1"
    assert risky > model.risk(row_calm)[0]
    reasons = model.reasons(row, "en")
    assert "days_since_last_order is 400, which raises the churn risk" in reasons
    assert "complaints is 9, which raises the churn risk" in reasons
    assert "投诉次数为9，提高流失风险" in model.reasons(row, "zh")


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("a,b\n1,2\n", ["--label-col", "churned"], "has no column 'churned'"),
        ("x,churned\n1,maybe\n2,no\n", ["--label-col", "churned"], "pass --positive"),
        ("x,churned\n1,yes\n2,no\n", ["--label-col", "churned"], "need at least 10 churned"),
        ("churned\nyes\nno\n", ["--label-col", "churned"], "no feature columns"),
        ("x,s\n1,a\n", ["--label-col", "s", "--positive", "b"], "no row has the label 'b'"),
    ],
)
def test_bad_tables_are_refused_with_the_reason(
    runner: CliRunner, tmp_path: Path, content: str, args: list[str], message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    result = runner.invoke(app, ["insights", "churn-eval", "--data", str(path), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_a_file_that_is_not_utf8_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00garbage\x00\x81")
    with pytest.raises(ChurnDataError, match=r"not a readable UTF-8 CSV|has no column"):
        read_churn_csv(path, "churned")


def test_synthetic_table_is_reproducible() -> None:
    pd.testing.assert_frame_equal(synthetic_churn_table(200, 5), synthetic_churn_table(200, 5))


def test_a_category_reason_names_the_customers_own_value(tmp_path: Path) -> None:
    """Churn follows the plan alone; a customer on "plus" is never told their plan is "basic"."""
    plans = ["basic", "plus", "vip"] * 120
    frame = pd.DataFrame(
        {
            "plan": plans,
            "age": [20 + i % 7 for i in range(len(plans))],
            "churned": ["yes" if p == "basic" else "no" for p in plans],
        }
    )
    path = tmp_path / "plans.csv"
    frame.to_csv(path, index=False)
    data = read_churn_csv(path, "churned", None)
    model, _ = train_churn(data, seed=1, labels={"plan": ("套餐", "plan")})
    row = data.features.iloc[[1]]  # a "plus" customer
    reasons = model.reasons(row, "en")
    plan_reasons = [r for r in reasons if r.startswith("plan is")]
    assert plan_reasons, reasons
    assert all(r.startswith("plan is plus,") for r in plan_reasons), reasons
    assert all("basic" not in r and "vip" not in r for r in reasons)
    assert any(r.startswith("套餐为plus，") for r in model.reasons(row, "zh"))
