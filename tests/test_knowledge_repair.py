"""Colloquial Chinese questions mended towards the corpus's own words before retrieval."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bot.app import Settings, knowledge_config
from bot.language import detect_language
from knowledge import KnowledgeBase, KnowledgeConfig
from knowledge._embeddings import E5Embedder, Embedder
from knowledge._eval import evaluate
from knowledge._lexical import LexicalIndex
from knowledge._repair import QueryRepair
from knowledge._text import lexical_tokens

CORPUS = [
    "流量用完了怎么办？超出套餐的流量按5元/GB计费。",
    "如何查询剩余话费和流量？发送CXLL到10077。",
    "怎么办理携号转网？需要先获取携号转网授权码。",
    "验证码收不到怎么办？请检查短信拦截设置。",
    "国际漫游怎么开通？在营业厅App办理。",
    "实时话费可以在App首页查看。",
    "忘记服务密码怎么重置？",
]


def _repair(texts: list[str] = CORPUS) -> QueryRepair:
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(set(lexical_tokens(text)))
    return QueryRepair(counts)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("留量还剩多少", "流量还剩多少"),  # 留量 liu liang: 流量
        ("我的套参超了", "我的套餐超了"),
        ("慢游怎么开", "漫游怎么开"),
        ("查下话废", "查下话费"),
    ],
)
def test_a_homophone_typo_becomes_the_corpus_word(question: str, expected: str) -> None:
    assert _repair().repair(question) == expected


@pytest.mark.parametrize(
    "question",
    [
        "事实上我没用流量",  # 事实 sounds like the corpus's 实时 but is the commoner word
        "号码上显示欠费",  # "码上" sounds like 马上, but cuts through 号码
        "流量用完了怎么办",  # nothing to mend
        "忘记密码了",
    ],
)
def test_words_that_are_no_typos_stay(question: str) -> None:
    repair = _repair([*CORPUS, "马上到账"])
    assert repair.repair(question) == question


def test_dialect_words_become_standard_ones_unless_the_corpus_uses_them() -> None:
    assert _repair().repair("喺边度查话费") == "在哪里查话费"
    assert _repair().repair("有冇国际漫游") == "有没有国际漫游"
    assert _repair().repair("流量咋整") == "流量怎么办"
    # A corpus written with 啥 keeps it: the repair moves questions towards the corpus.
    assert _repair([*CORPUS, "啥是携号转网"]).repair("啥是流量") == "啥是流量"
    assert _repair().repair("啥是流量") == "什么是流量"


def test_pinyin_initials_get_the_corpus_word_written_beside_them() -> None:
    repair = _repair()
    assert repair.repair("yzm收不到") == "yzm验证码收不到"
    assert repair.repair("YZM一直不来") == "YZM验证码一直不来"
    assert repair.repair("ZM查流量") == "ZM怎么查流量"  # two letters: a question word
    # A token the corpus itself uses (an SMS command), a word with a vowel, an English
    # stopword and a question with no Chinese are left alone.
    assert repair.repair("发cxll查不了") == "发cxll查不了"
    assert repair.repair("app打不开") == "app打不开"
    assert repair.repair("my套餐是哪个") == "my套餐是哪个"
    assert repair.repair("why is my sms late") == "why is my sms late"


def test_two_letters_with_several_corpus_words_and_no_question_word_stay() -> None:
    # "mm" could be 密码 or 买卖 (both in this corpus): no guess.
    repair = _repair([*CORPUS, "二手手机买卖要注意什么", "买卖合同怎么签"])
    assert repair.repair("服务mm忘了") == "服务mm忘了"
    only = _repair(["忘记服务密码怎么重置？", "密码错误三次会锁定"])
    assert only.repair("服务mm忘了") == "服务mm密码忘了"


def test_hostile_text_is_repaired_or_left_without_error() -> None:
    repair = _repair()
    long = "留量" * 2000 + "<script>alert(1)</script>" + "x" * 3000
    mended = repair.repair(long)
    assert mended.startswith("流量流量")
    assert "<script>alert(1)</script>" in mended
    assert repair.repair("") == ""
    assert repair.repair("🙂🙂") == "🙂🙂"
    assert QueryRepair({}).repair("留量还剩多少") == "留量还剩多少"  # an empty corpus mends nothing


def test_document_counts_follow_a_replaced_document() -> None:
    index = LexicalIndex([["流量", "套餐"], ["流量", "漫游"]])
    assert index.document_counts() == {"流量": 2, "套餐": 1, "漫游": 1}
    kept = np.array([False, True])
    replaced = index.replacing(kept, [["话费"]])
    assert replaced.document_counts() == {"流量": 1, "漫游": 1, "话费": 1}


FAQ = """\
category: mobile
faq:
  - id: port-out
    zh:
      question: 怎么办理携号转网？
      answer: 先发送短信获取携号转网授权码，再到新运营商的营业厅办理。
  - id: sms-code
    zh:
      question: 短信验证码收不到怎么办？
      answer: 请检查手机的短信拦截设置，或在App中改用语音验证码。
  - id: data-left
    zh:
      question: 怎么查询剩余流量？
      answer: 发送CXLL到10077，或在App首页查看剩余流量。
  - id: roaming
    zh:
      question: 国际漫游怎么开通？
      answer: 在App“办理→国际漫游”中开通，开通后立即生效。
  - id: bill
    zh:
      question: 每月账单什么时候出？
      answer: 每月3日前可在App查看上月账单。
"""


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return E5Embedder()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "kb"
    path.mkdir()
    (path / "faq.yaml").write_text(FAQ, encoding="utf-8")
    return path


def _kb(tmp_path: Path, embedder: Embedder, repair: bool) -> KnowledgeBase:
    config = KnowledgeConfig(
        persist_dir=tmp_path / f"chroma-{repair}",
        embedding_cache=tmp_path / "embeddings.sqlite",
        refresh_interval_s=0.0,
        query_repair=repair,
    )
    return KnowledgeBase(config, detect_language=detect_language, embedder=embedder)


@pytest.fixture
def both(tmp_path: Path, embedder: Embedder, folder: Path) -> Iterator[dict[bool, KnowledgeBase]]:
    bases = {flag: _kb(tmp_path, embedder, flag) for flag in (True, False)}
    for base in bases.values():
        base.ingest([folder])
    yield bases
    for base in bases.values():
        base.close()


def test_the_knowledge_base_finds_the_entry_a_colloquial_question_meant(
    both: dict[bool, KnowledgeBase],
) -> None:
    # Pinyin initials: the entry is found with the repair, and the question as typed ranks
    # another entry first (so the repair is what found it).
    assert both[True].rank("yzm咋整")[0].doc_id == "sms-code"
    assert both[False].rank("yzm咋整")[0].doc_id != "sms-code"

    # A homophone typo: the entry the customer meant comes closer once it is mended.
    def similarity(base: KnowledgeBase, question: str, entry: str) -> float:
        return next(d.similarity for d in base.rank(question) if d.doc_id == entry)

    assert both[True].rank("慢游咋开")[0].doc_id == "roaming"
    assert (
        similarity(both[True], "慢游咋开", "roaming")
        > similarity(both[False], "慢游咋开", "roaming") + 0.02
    )
    # An ordinary question ranks the same either way.
    assert both[True].rank("怎么查询剩余流量")[0].doc_id == "data-left"
    assert both[False].rank("怎么查询剩余流量")[0].doc_id == "data-left"


def test_the_setting_turns_the_repair_off() -> None:
    assert knowledge_config(Settings(_env_file=None)).query_repair is True  # type: ignore[call-arg]
    off = Settings(_env_file=None, knowledge_query_repair=False)  # type: ignore[call-arg]
    assert knowledge_config(off).query_repair is False


def test_kb_eval_counts_declined_questions_whose_entry_was_offered(
    tmp_path: Path, embedder: Embedder, folder: Path
) -> None:
    # Thresholds no question clears: every answerable question is declined, and the report says
    # how many of those had their entry offered ("did you mean…?") and how many did not.
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        '{"question": "国际漫游在哪里开通", "relevant_ids": ["roaming"]}\n'
        '{"question": "验证码一直收不到", "relevant_ids": ["sms-code"]}\n'
        '{"question": "明天北京天气怎么样", "relevant_ids": ["bill"]}\n',
        encoding="utf-8",
    )
    config = KnowledgeConfig(
        embedding_cache=tmp_path / "embeddings.sqlite",
        faq_threshold=0.97,  # the offer's floor: 0.92
        answer_threshold=0.99,
        self_calibrate=False,
    )
    report = evaluate(folder, qa, config, detect_language=detect_language, embedder=embedder)
    assert report.answer_rate == 0.0
    # The two real questions come within the margin of their entries; the weather does not.
    assert report.suggested_rate == pytest.approx(2 / 3, abs=1e-4)
