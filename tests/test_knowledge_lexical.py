"""The knowledge base's BM25 index: rank-bm25's Okapi scores, and an index with documents
replaced scoring exactly as one built from scratch on the same corpus."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from knowledge._lexical import LexicalIndex, record_tokens
from knowledge._store import StoredRecord
from knowledge._text import LEXICAL_ANALYZER, lexical_tokens

# A small vocabulary, so terms repeat across documents (and some are in more than half of them:
# a negative IDF, floored).
TERMS = st.sampled_from(["退货", "运费", "refund", "order", "十元", "流程", "到账", "phone"])
DOCUMENTS = st.lists(st.lists(TERMS, max_size=6), min_size=1, max_size=12)
QUERIES = st.lists(st.sampled_from(["退货", "refund", "phone", "未知", "流程"]), max_size=5)


def reference(documents: list[list[str]], query: list[str]) -> np.ndarray:
    return np.asarray(BM25Okapi([d or ["\x00"] for d in documents]).get_scores(query))


@settings(max_examples=200, deadline=None)
@given(documents=DOCUMENTS, query=QUERIES)
def test_scores_are_rank_bm25s_okapi(documents: list[list[str]], query: list[str]) -> None:
    ours = LexicalIndex(documents).scores(query)
    assert ours.dtype == np.float32
    assert np.allclose(ours, reference(documents, query), rtol=1e-5, atol=1e-5)


@settings(max_examples=200, deadline=None)
@given(
    documents=DOCUMENTS,
    added=st.lists(st.lists(TERMS | st.sampled_from(["new", "新词"]), max_size=6), max_size=5),
    data=st.data(),
    query=QUERIES | st.just(["new", "退货", "新词"]),
)
def test_an_index_with_documents_replaced_scores_as_one_built_anew(
    documents: list[list[str]], added: list[list[str]], data: st.DataObject, query: list[str]
) -> None:
    kept = np.asarray(
        data.draw(st.lists(st.booleans(), min_size=len(documents), max_size=len(documents)))
    )
    corpus = [d for d, keep in zip(documents, kept, strict=True) if keep] + added
    replaced = LexicalIndex(documents).replacing(kept, added)
    assert replaced.size == len(corpus)
    fresh = LexicalIndex(corpus).scores(query)
    assert np.allclose(replaced.scores(query), fresh, rtol=1e-5, atol=1e-5)
    if corpus:
        assert np.allclose(fresh, reference(corpus, query), rtol=1e-5, atol=1e-5)


def test_replacing_again_and_again_keeps_the_scores() -> None:
    """Terms whose documents all went keep a column with no document: they count nowhere
    (not in the mean IDF either), and a term that comes back is scored as new."""
    index = LexicalIndex([["退货", "运费"], ["refund", "order"], ["phone"]])
    index = index.replacing(np.array([False, True, True]), [["退款", "到账"]])
    index = index.replacing(np.array([True, False, True]), [["退货"], ["退货", "流程"]])
    corpus = [["refund", "order"], ["退款", "到账"], ["退货"], ["退货", "流程"]]
    for query in (["退货"], ["运费"], ["order", "退款", "流程"], ["phone"]):
        assert np.allclose(index.scores(query), reference(corpus, query), rtol=1e-5, atol=1e-5)
    assert not index.scores(["运费", "phone"]).any()  # their documents are gone


def test_empty_indexes_and_a_wrong_mask() -> None:
    assert LexicalIndex([]).scores(["x"]).shape == (0,)
    assert LexicalIndex([]).replacing(np.array([], dtype=bool), [["x"]]).scores(["x"]).shape == (1,)
    everything_gone = LexicalIndex([["a"], ["b"]]).replacing(np.array([False, False]), [])
    assert everything_gone.size == 0
    assert everything_gone.scores(["a"]).shape == (0,)
    with pytest.raises(ValueError, match="kept marks 1 documents; the index holds 2"):
        LexicalIndex([["a"], ["b"]]).replacing(np.array([True]), [])


# ---- the analyzer ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        # Porter2 folds what the light plural/verb fold of ``tokens`` leaves apart.
        ("I want to contact the developers", "how do I reach your developer team"),
        ("who is creating this", "what does your company create"),
        ("generous returns policy", "return policy"),
    ],
)
def test_english_words_meet_by_their_porter2_stem(question: str, entry: str) -> None:
    shared = set(lexical_tokens(question)) & set(lexical_tokens(entry))
    assert shared
    assert not {"the", "is", "this", "to"} & set(lexical_tokens(question))


def test_chinese_words_and_every_pair_of_adjacent_characters() -> None:
    found = lexical_tokens("退款多久到账？")
    assert {"退款", "多久", "到账"} <= set(found)  # jieba's words
    assert {"款多", "久到"} <= set(found)  # pairs across its cuts
    # Two texts share their character pairs whatever words jieba makes of them.
    assert {"运费", "费险"} <= set(lexical_tokens("请问有运费险吗")) & set(
        lexical_tokens("运费险怎么理赔")
    )


def test_records_stored_by_an_earlier_analyzer_are_tokenized_again() -> None:
    text = "Which payment methods do you accept?"
    old = StoredRecord("a", text, {"tokens": "payment method accept"}, "questions")
    current = StoredRecord(
        "b", text, {"tokens": "stored as is", "analyzer": LEXICAL_ANALYZER}, "questions"
    )
    assert record_tokens([old, current]) == [lexical_tokens(text), ["stored", "as", "is"]]
