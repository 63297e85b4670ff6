"""Evaluation: reading labelled data, scoring, and `python -m bot eval nlu` on a tiny dataset."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.app import PROJECT_ROOT, app
from bot.dialogue import EvaluationFailed, Example, load_examples, paired_difference, score
from bot.dialogue._evaluation import Entity, _right, parse_annotated

TINY = Path(__file__).parent / "data" / "nlu_tiny"


def test_annotations_become_text_and_spans() -> None:
    text, entities = parse_annotated(
        '查[YX2611010001](order_id)和[手机]{"entity": "product_category", "value": "electronics"}'
    )
    assert text == "查YX2611010001和手机"
    assert entities == (Entity("order_id", 1, 13), Entity("product_category", 14, 16))


def test_yaml_and_csv_are_read() -> None:
    examples = load_examples(TINY / "test.yml")
    assert examples == [
        Example("where is order YX2611010001", "check_order_status", (Entity("order_id", 15, 27),)),
        Example("订单yx 2611 010 002到哪了", "check_order_status", (Entity("order_id", 2, 17),)),
        Example("hello", "greet"),
    ]
    csv_examples = load_examples(TINY / "train.csv")
    assert len(csv_examples) == 24
    assert csv_examples[0] == Example("hi", "greet")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.csv", "sentence,label\nhi,greet\n", "header with the columns text,intent"),
        ("empty.csv", "text,intent\nhi,\n", "line 2: text and intent must not be empty"),
        ("bad.yml", "nlu: [\n", "not valid YAML"),
        ("data.txt", "hi", "expected Rasa NLU YAML"),
    ],
)
def test_bad_data_is_refused_with_the_reason(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EvaluationFailed, match=message):
        load_examples(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EvaluationFailed, match="does not exist"):
        load_examples(tmp_path / "nope.yml")


def test_scores() -> None:
    examples = [
        Example("a", "greet"),
        Example("b", "greet"),
        Example("c", "order", (Entity("order_id", 0, 1), Entity("phone", 2, 3))),
        Example("d", "oos"),
        Example("e", "oos"),
    ]
    predictions: list[dict[str, Any]] = [
        {"intent": "greet", "entities": []},
        {"intent": "order", "entities": []},
        {
            "intent": "order",
            "entities": [
                {"entity": "order_id", "start": 0, "end": 1},
                {"entity": "budget", "start": 4, "end": 5},
            ],
        },
        {"intent": "nlu_fallback", "entities": []},
        {"intent": "greet", "entities": []},
    ]
    result = score(examples, predictions, oos_label="oos")
    # F1 per intent: greet 2/4=0.5 (p=1/2, r=1/2), order 2/3, oos 2/3 (p=1, r=1/2).
    assert result == {
        "examples": 5,
        "accuracy": 0.4,
        "macro_f1": round((0.5 + 2 / 3 + 0) / 3, 4),
        "confusions": [
            {"intent": "greet", "predicted": "order", "count": 1},
            {"intent": "oos", "predicted": "nlu_fallback", "count": 1},
            {"intent": "oos", "predicted": "greet", "count": 1},
        ],
        "entities": {"gold": 2, "precision": 0.5, "recall": 0.5, "f1": 0.5},
        "oos_examples": 2,
        "oos_recall": 0.5,
        "oos_precision": 1.0,
        "in_scope_accuracy": round(2 / 3, 4),
    }


def test_oos_precision_counts_rejected_in_scope_messages() -> None:
    examples = [Example("a", "greet"), Example("b", "greet"), Example("c", "oos")]
    rejected_all = [{"intent": "nlu_fallback"}, {"intent": "oos"}, {"intent": "nlu_fallback"}]
    result = score(examples, rejected_all, oos_label="oos")
    assert (result["oos_recall"], result["oos_precision"], result["in_scope_accuracy"]) == (
        1.0,
        round(1 / 3, 4),
        0.0,
    )
    # Nothing rejected: precision is undefined rather than perfect.
    accepted_all = [{"intent": "greet"}, {"intent": "greet"}, {"intent": "greet"}]
    result = score(examples, accepted_all, oos_label="oos")
    assert (result["oos_recall"], result["oos_precision"], result["in_scope_accuracy"]) == (
        0.0,
        None,
        1.0,
    )


def test_oos_label_must_occur() -> None:
    with pytest.raises(EvaluationFailed, match="no example labelled 'missing'"):
        score([Example("a", "greet")], [{"intent": "greet"}], oos_label="missing")


def test_paired_difference_counts_the_discordant_messages_and_bounds_the_lead() -> None:
    baseline = [True] * 90 + [False] * 10
    ours = list(baseline)
    ours[90:98] = [True] * 8  # eight messages only ours gets right
    ours[0] = False  # one only the baseline gets right
    result = paired_difference(baseline, ours, resamples=2000)
    assert (result["only_this_right"], result["only_baseline_right"]) == (8, 1)
    assert result["difference"] == 0.07
    low, high = result["bootstrap_95"]
    assert low < 0.07 < high
    # 8 against 1: an exact two-sided binomial p of 20 / 512
    assert result["mcnemar_exact_p"] == 0.0391


def test_a_rejected_out_of_scope_message_counts_as_right_when_compared() -> None:
    examples = [Example("hi", "greet"), Example("asdf", "oos"), Example("qwer", "oos")]
    predictions = [{"intent": "greet"}, {"intent": "nlu_fallback"}, {"intent": "greet"}]
    assert _right(examples, predictions, "oos") == [True, True, False]
    # Without an out-of-scope label only the labelled intent is right.
    assert _right(examples, predictions) == [True, False, False]


def test_paired_difference_of_the_same_answers_is_none() -> None:
    same = [True, False, True]
    result = paired_difference(same, list(same), resamples=100)
    assert result["mcnemar_exact_p"] == 1.0
    assert result["bootstrap_95"] == [0.0, 0.0]
    with pytest.raises(EvaluationFailed, match="same, non-zero number"):
        paired_difference(same, same[:2])


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "eval", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


# The refusals come before any training: in-process through Typer's runner (a subprocess
# spends its time importing the platform).
def test_eval_nlu_needs_both_outside_files() -> None:
    result = CliRunner().invoke(app, ["eval", "nlu", "--train", str(TINY / "train.csv")])
    assert result.exit_code == 2
    assert "give both --train and --test" in result.stderr


def test_eval_nlu_baseline_needs_outside_data_and_a_file(tmp_path: Path) -> None:
    config = str(PROJECT_ROOT / "bench" / "nlu_configs" / "stock_lr_zh.yml")
    result = CliRunner().invoke(app, ["eval", "nlu", "--baseline", config])
    assert result.exit_code == 2
    assert "--baseline applies to outside data" in result.stderr
    args = ["eval", "nlu", "--train", str(TINY / "train.csv"), "--test", str(TINY / "test.csv")]
    result = CliRunner().invoke(app, [*args, "--baseline", str(tmp_path / "missing.yml")])
    assert result.exit_code == 1
    assert "baseline config" in result.stderr
    assert "is not a file" in result.stderr
    assert result.stdout == ""


def test_eval_nlu_refuses_bad_outside_data(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence,label\n", encoding="utf-8")
    args = ["eval", "nlu", "--train", str(bad), "--test", str(TINY / "test.csv")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "header with the columns text,intent" in result.stderr
    assert result.stdout == ""


def run_on_tiny(*options: str) -> subprocess.CompletedProcess[str]:
    """`eval nlu` trained and scored on the tiny outside CSV files."""
    return run_cli(
        "nlu", "--train", str(TINY / "train.csv"), "--test", str(TINY / "test.csv"), *options
    )


def test_eval_nlu_on_outside_csv_data() -> None:
    completed = run_on_tiny("--oos-label", "out_of_scope")
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout)
    assert set(result) == {
        "examples",
        "accuracy",
        "macro_f1",
        "confusions",
        "oos_examples",
        "oos_recall",
        "oos_precision",
        "in_scope_accuracy",
        "training_examples",
        "training_seconds",
    }
    assert (result["examples"], result["training_examples"]) == (12, 24)
    # Eight examples an intent in two languages are enough to tell these three apart.
    assert result["accuracy"] >= 0.75
    assert result["macro_f1"] >= 0.7
    assert 0 <= result["oos_recall"] <= 1
    assert result["training_seconds"] > 0


def test_eval_nlu_against_a_baseline_config() -> None:
    # The project's classifier against stock Rasa's logistic regression on the same tiny data:
    # both are trained, and the paired figures are those of the two sets of answers.
    completed = run_on_tiny(
        "--baseline", str(PROJECT_ROOT / "bench" / "nlu_configs" / "stock_lr_zh.yml")
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout)
    baseline, paired = result["baseline"], result["paired"]
    assert baseline["config"].endswith("stock_lr_zh.yml")
    assert baseline["training_seconds"] > 0
    assert paired["messages"] == result["examples"] == 12
    assert paired["difference"] == round(result["accuracy"] - baseline["accuracy"], 4)
    assert (
        round((paired["only_this_right"] - paired["only_baseline_right"]) / 12, 4)
        == (paired["difference"])
    )
    low, high = paired["bootstrap_95"]
    assert low <= paired["difference"] <= high


def test_eval_nlu_scores_another_config_on_the_project_data(tmp_path: Path) -> None:
    # The project's pipeline without its sentence embeddings, as when comparing pipelines: a
    # fresh NLU model is trained with it (not the platform's model, which the project config makes).
    project = (PROJECT_ROOT / "config.yml").read_text(encoding="utf-8")
    classifier = "  - name: bot.rasa_components.IntentClassifier\n"
    without_e5 = project.replace(classifier, classifier + "    use_e5: false\n")
    assert without_e5 != project
    config = tmp_path / "config.yml"
    config.write_text(without_e5, encoding="utf-8")
    completed = run_cli("nlu", "--config", str(config))
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout)
    assert (result["config"], result["model"]) == (str(config), "nlu.tar.gz")
    assert result["training_seconds"] > 0
    assert set(result["languages"]) == {"zh", "en"}
    for scores in result["languages"].values():
        assert scores["examples"] >= 100  # the test half of the held-out data
        assert 0.5 < scores["macro_f1"] <= 1.0
