"""Chunking: Markdown sections first, then Chinese and English sentence ends; text helpers."""

from __future__ import annotations

from bot.language import detect_language
from knowledge._chunking import CHUNK_SIZE, chunk_document, chunk_faq
from knowledge._text import normalize, numbers, sentences, tokens
from knowledge._types import FaqEntry, LoadedDocument, Section


def doc(text: str, markdown: bool = True, **kwargs: object) -> LoadedDocument:
    fields: dict[str, object] = {
        "doc_id": "d1",
        "title": "退货政策",
        "language": "zh",
        "text": text,
        "markdown": markdown,
    }
    fields.update(kwargs)
    return LoadedDocument(**fields)  # type: ignore[arg-type]


def test_markdown_sections_keep_their_headings() -> None:
    chunks = chunk_document(
        detect=detect_language,
        document=doc(
            "# 退货政策\n\n总则。\n\n## 七天无理由\n\n签收7天内可退。\n\n"
            "### 例外\n\n- 内衣\n- 生鲜食品\n\n## 退款\n\n3–5个工作日到账。"
        ),
    )
    assert [(c.section, c.body) for c in chunks] == [
        ("", "总则。"),
        ("七天无理由", "签收7天内可退。"),
        ("七天无理由 › 例外", "- 内衣\n- 生鲜食品"),
        ("退款", "3–5个工作日到账。"),
    ]
    assert chunks[2].text == "退货政策 › 七天无理由 › 例外\n- 内衣\n- 生鲜食品"
    assert [c.position for c in chunks] == [0, 1, 2, 3]
    assert {(c.kind, c.language, c.doc_id) for c in chunks} == {("passage", "zh", "d1")}


def test_long_chinese_text_splits_at_sentence_ends() -> None:
    sentence = "七天无理由退货自签收之日起计算，商品需保持完好且不影响二次销售。"  # 32 characters
    text = "".join(sentence.replace("。", end) for end in "。！？；" * 5)
    chunks = chunk_document(doc(text, markdown=False), detect_language)
    assert len(chunks) > 1
    for chunk in chunks:
        assert len(chunk.body) <= CHUNK_SIZE
        assert chunk.body[-1] in "。！？；", chunk.body[-8:]
    # Nothing is lost between chunks (the overlap repeats, it does not drop).
    joined = "".join(c.body for c in chunks)
    assert all(part in joined for part in sentences(text))


def test_english_splits_after_sentences_not_inside_words() -> None:
    text = " ".join(f"Sentence number {i} explains one rule of returns." for i in range(40))
    chunks = chunk_document(
        doc(text, markdown=False, language="en", title="Returns"), detect_language
    )
    assert len(chunks) > 1
    assert all(c.body.endswith(".") for c in chunks)
    assert all(c.language == "en" for c in chunks)


def test_pdf_pages_are_sections_of_their_chunks() -> None:
    chunks = chunk_document(
        detect=detect_language,
        document=doc(
            "", markdown=False, sections=(Section("p. 1", "First."), Section("p. 2", "Second."))
        ),
    )
    assert [(c.section, c.body, c.text) for c in chunks] == [
        ("p. 1", "First.", "退货政策 › p. 1\nFirst."),
        ("p. 2", "Second.", "退货政策 › p. 2\nSecond."),
    ]


def test_faq_entry_becomes_a_passage_and_one_record_per_wording() -> None:
    chunks = chunk_faq(
        FaqEntry(
            "refund", "zh", "退款多久到账？", "3–5个工作日。", ("钱多久退回来", "退款多久到账？")
        ),
        position=7,
    )
    assert [(c.kind, c.text, c.body, c.answer) for c in chunks] == [
        ("faq", "退款多久到账？\n3–5个工作日。", "3–5个工作日。", ""),
        ("question", "退款多久到账？", "退款多久到账？", "3–5个工作日。"),
        ("question", "钱多久退回来", "钱多久退回来", "3–5个工作日。"),
    ]
    assert {(c.doc_id, c.section, c.position) for c in chunks} == {("refund", "退款多久到账？", 7)}


def test_text_helpers() -> None:
    assert sentences("第一句。第二句！Third one. Fourth?\n第五句") == [
        "第一句。",
        "第二句！",
        "Third one.",
        "Fourth?",
        "第五句",
    ]
    assert tokens("How do I return shoes?") == ["return", "shoe"]
    assert "退货" in tokens("请问怎么退货")
    assert "请问" not in tokens("请问怎么退货")
    assert numbers("七天内退货，运费¥10，十五天换货，3.5折") == {"7", "10", "15", "3.5"}
    assert normalize("  退货 运费？？") == normalize("退货运费?") == "退货运费"
    assert [detect_language(t) for t in ("退货", "refund", "123 !")] == ["zh", "en", None]
