"""Loaders: every supported format read into documents or FAQ entries; every bad file named."""

from __future__ import annotations

import json
from pathlib import Path

import docx
import pytesseract
import pytest
from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfReader, PdfWriter

from knowledge import InvalidSource, UnsupportedSource
from knowledge._loaders import load_source
from knowledge._types import FaqEntry, LoadedDocument, Section

CJK_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"


def make_pdf(path: Path, pages: list[str]) -> Path:
    """A minimal PDF with one line of Helvetica text per page (no PDF writer library needed)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    font = 3 + 2 * len(pages)
    for i, text in enumerate(pages):
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (
        f"trailer << /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    path.write_bytes(bytes(out))
    return path


def test_markdown_front_matter_names_the_document(tmp_path: Path) -> None:
    path = tmp_path / "returns.md"
    path.write_text(
        "---\nid: policy-returns\nlanguage: zh\ncategory: returns\nurl: https://x.test/r\n---\n"
        "# 退货政策\n\n## 七天无理由\n\n签收后7天内可以退货。\n",
        encoding="utf-8",
    )
    loaded = load_source(path, "returns.md")
    assert loaded.faqs == ()
    assert loaded.documents == (
        LoadedDocument(
            doc_id="policy-returns",
            title="退货政策",
            language="zh",
            text="# 退货政策\n\n## 七天无理由\n\n签收后7天内可以退货。",
            markdown=True,
            category="returns",
            url="https://x.test/r",
        ),
    )


def test_plain_text_in_gb18030_leaves_its_language_to_the_detector(tmp_path: Path) -> None:
    path = tmp_path / "hours.txt"
    path.write_bytes("客服时间：每天09:00到21:00。".encode("gb18030"))
    (document,) = load_source(path, "hours.txt").documents
    # A file that does not declare its language: the knowledge base's detector decides.
    assert (document.doc_id, document.title, document.language, document.markdown) == (
        "hours.txt",
        "hours",
        "",
        False,
    )
    assert document.text == "客服时间：每天09:00到21:00。"


def test_html_headings_become_sections(tmp_path: Path) -> None:
    path = tmp_path / "shipping.html"
    path.write_text(
        "<html><head><title>Shipping</title><script>var x = 1;</script></head><body>"
        "<nav>Home | Shop</nav><h1>Shipping</h1><p>We ship fast.</p>"
        "<h2>Fees</h2><ul><li>Free over ¥99</li><li>Otherwise ¥10</li></ul></body></html>",
        encoding="utf-8",
    )
    (document,) = load_source(path, "shipping.html").documents
    assert document.title == "Shipping"
    assert document.language == ""
    assert "var x" not in document.text
    assert "Home | Shop" not in document.text
    assert "## Fees" in document.text
    assert "- Free over ¥99" in document.text


def test_pdf_pages_are_sections(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "warranty.pdf", ["Batteries are covered for 6 months.", "Page two."])
    (document,) = load_source(path, "warranty.pdf").documents
    assert document.sections == (
        Section("p. 1", "Batteries are covered for 6 months."),
        Section("p. 2", "Page two."),
    )
    assert (document.language, document.markdown) == ("", False)


def test_docx_headings_lists_and_tables(tmp_path: Path) -> None:
    word = docx.Document()
    word.add_heading("会员与积分", level=1)
    word.add_heading("积分使用", level=2)
    word.add_paragraph("100积分可抵扣1元。")
    word.add_paragraph("结算时勾选使用积分", style="List Bullet")
    table = word.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "金卡"
    table.rows[0].cells[1].text = "5,000分"
    path = tmp_path / "points.docx"
    word.save(str(path))
    (document,) = load_source(path, "points.docx").documents
    assert document.text == (
        "# 会员与积分\n\n## 积分使用\n\n100积分可抵扣1元。\n\n- 结算时勾选使用积分\n\n金卡 | 5,000分"
    )
    assert (document.title, document.language, document.markdown) == ("会员与积分", "", True)


def test_faq_yaml_with_both_languages(tmp_path: Path) -> None:
    path = tmp_path / "faq.yaml"
    path.write_text(
        "category: returns\nfaq:\n"
        "  - id: refund-time\n"
        "    zh: {question: 退款多久到账？, alternatives: [钱多久退回来], answer: 3–5个工作日。}\n"
        '    en: {question: "How long does a refund take?", answer: 3–5 business days.}\n',
        encoding="utf-8",
    )
    assert load_source(path, "faq.yaml").faqs == (
        FaqEntry(
            "refund-time", "zh", "退款多久到账？", "3–5个工作日。", ("钱多久退回来",), "returns"
        ),
        FaqEntry(
            "refund-time", "en", "How long does a refund take?", "3–5 business days.", (), "returns"
        ),
    )


def test_faq_jsonl_as_the_eval_corpus_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    rows = [
        {"id": "q1", "question": "运费多少？", "answer": "满99元包邮。"},
        {
            "id": "q2",
            "question": "Hours?",
            "answer": "9 to 21.",
            "alternatives": ["When are you open?"],
        },
    ]
    path.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n", encoding="utf-8"
    )
    assert load_source(path, "corpus.jsonl").faqs == (
        # Undeclared languages are left to the knowledge base's detector.
        FaqEntry("q1", "", "运费多少？", "满99元包邮。"),
        FaqEntry("q2", "", "Hours?", "9 to 21.", ("When are you open?",)),
    )


def test_faq_csv_with_alternatives(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text(
        "id,question,answer,alternatives,category\n"
        "pay,支持哪些付款方式？,支付宝、微信支付。,能用微信吗|能用支付宝吗,payment\n",
        encoding="utf-8",
    )
    assert load_source(path, "faq.csv").faqs == (
        FaqEntry(
            "pay",
            "",
            "支持哪些付款方式？",
            "支付宝、微信支付。",
            ("能用微信吗", "能用支付宝吗"),
            "payment",
        ),
    )


def test_image_goes_through_the_ocr_callable(tmp_path: Path) -> None:
    image = Image.new("RGB", (1000, 160), "white")
    ImageDraw.Draw(image).text(
        (20, 50),
        "以旧换新：旧手机可以抵扣50元",
        font=ImageFont.truetype(CJK_FONT, 40),
        fill="black",
    )
    path = tmp_path / "notice.png"
    image.save(path)

    def tesseract(p: Path) -> str:
        return str(pytesseract.image_to_string(str(p), lang="chi_sim+eng", config="--psm 6"))

    (document,) = load_source(path, "notice.png", tesseract).documents
    text = document.text.replace(" ", "")
    assert "旧手机可以抵扣50元" in text
    assert document.language == ""


@pytest.mark.parametrize(
    ("name", "content", "error", "message"),
    [
        ("notes.exe", b"MZ", UnsupportedSource, "files of type '.exe' cannot be ingested"),
        ("scan.png", b"\x89PNG", UnsupportedSource, "images need an OCR engine"),
        ("empty.md", b"   \n", InvalidSource, "empty.md: the file has no text"),
        ("bad.md", b"---\n[unclosed\n---\n# T\n", InvalidSource, "front matter is not valid YAML"),
        (
            "lang.md",
            b"---\nlanguage: fr\n---\nBonjour",
            InvalidSource,
            "language must be 'zh' or 'en'",
        ),
        (
            "binary.txt",
            b"\xff\xfe\x00\xd8\x00\x00\xff",
            InvalidSource,
            "not text in UTF-8 or GB18030",
        ),
        ("faq.yaml", b"faq: {a: 1}", InvalidSource, "a FAQ file holds a list of entries"),
        ("faq.yml", b"- id: x\n  question: Q?\n", InvalidSource, "entry 1 (id 'x') has no answer"),
        ("faq.json", b'[{"question": "Q"', InvalidSource, "faq.json: not valid JSON"),
        (
            "faq.jsonl",
            b'{"question": "Q", "answer": "A"}\nnot json\n',
            InvalidSource,
            "line 2 is not valid JSON",
        ),
        (
            "faq.csv",
            b"frage,antwort\nx,y\n",
            InvalidSource,
            "needs a header row with 'question' and 'answer'",
        ),
        (
            "dup.yaml",
            b"- {id: a, question: Q1, answer: A}\n- {id: a, question: Q2, answer: B}\n",
            InvalidSource,
            "entry 2 repeats id 'a'",
        ),
        (
            "alts.yaml",
            b"- {question: Q, answer: A, alternatives: 3}\n",
            InvalidSource,
            "'alternatives' must be a list",
        ),
        ("broken.pdf", b"%PDF-1.4 garbage", InvalidSource, "not a readable PDF"),
        ("broken.docx", b"PK\x03\x04 not a zip", InvalidSource, "not a readable Word (.docx) file"),
    ],
)
def test_bad_files_say_what_is_wrong(
    tmp_path: Path, name: str, content: bytes, error: type[Exception], message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(
        error, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")
    ):
        load_source(path, name)


def test_encrypted_and_scanned_pdfs_are_refused(tmp_path: Path) -> None:
    plain = make_pdf(tmp_path / "plain.pdf", ["Secret terms."])
    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.encrypt("owner-only")
    with (tmp_path / "locked.pdf").open("wb") as out:
        writer.write(out)
    with pytest.raises(InvalidSource, match="the PDF is encrypted"):
        load_source(tmp_path / "locked.pdf", "locked.pdf")
    blank = make_pdf(tmp_path / "scan.pdf", [""])
    with pytest.raises(InvalidSource, match="has no text layer"):
        load_source(blank, "scan.pdf")


def test_failing_ocr_is_an_invalid_source(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8")

    def broken(_: Path) -> str:
        raise RuntimeError("model missing")

    with pytest.raises(InvalidSource, match=r"photo\.jpg: OCR failed \(model missing\)"):
        load_source(path, "photo.jpg", broken)
    with pytest.raises(InvalidSource, match="OCR found no text"):
        load_source(path, "photo.jpg", lambda _: "  ")
