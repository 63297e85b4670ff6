"""Text in images behind one interface: RapidOCR (PP-OCR, default) or Tesseract.

RapidOCR's models ship inside its wheel and are named by path, so it never tries to download;
Tesseract needs the ``tesseract-ocr`` and ``tesseract-ocr-chi-sim`` system packages.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from PIL import Image

from channels.media._errors import EngineUnavailable, NoTextFound

logger = logging.getLogger(__name__)

OcrBackend = Literal["rapidocr", "tesseract"]
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# Tesseract puts a space between Chinese characters; Chinese has none.
_SPACE_IN_CHINESE = re.compile(
    r"(?<=[\u3400-\u9fff\uff00-\uffef，。：；、！？（）])\s+(?=[\u3400-\u9fff\uff00-\uffef，。：；、！？（）])"
)


@dataclass(frozen=True)
class OcrText:
    """The text read from an image, line by line in reading order."""

    text: str
    lines: tuple[str, ...]
    language: str  # "zh" when any Chinese was read, else "en"
    seconds: float
    backend: str


class OcrEngine(Protocol):
    """An OCR engine; ``read`` blocks, so call it off the event loop."""

    name: str

    def load(self) -> None:
        """Load the models now (they also load on first use)."""

    def read(self, path: Path) -> OcrText:
        """Read the text in the image at ``path``; ``NoTextFound`` when there is none."""


class RapidOcrEngine:
    """RapidOCR on onnxruntime with the PP-OCR models inside the ``rapidocr`` wheel."""

    name = "rapidocr"

    def __init__(self, *, max_side: int = 960) -> None:
        self._max_side = max_side
        self._engine: Any = None

    def load(self) -> None:
        if self._engine is not None:
            return
        try:
            import rapidocr
        except ImportError as exc:
            raise EngineUnavailable("rapidocr is not installed; pip install rapidocr") from exc
        models = Path(rapidocr.__file__).parent / "models"
        paths = {
            "Det.model_path": models / "PP-OCRv6_det_small.onnx",
            "Rec.model_path": models / "PP-OCRv6_rec_small.onnx",
            "Cls.model_path": models / "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
        }
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise EngineUnavailable(f"RapidOCR's models are missing: {', '.join(missing)}")
        started = time.perf_counter()
        self._engine = rapidocr.RapidOCR(
            params={
                **{key: str(path) for key, path in paths.items()},
                "Global.log_level": "warning",
                # Scale the longer side down to max_side: screenshots are tall, and scaling the
                # shorter side up (the default) tripled the time for no gain in accuracy.
                "Det.limit_type": "max",
                "Det.limit_side_len": self._max_side,
            }
        )
        logger.info("Loaded RapidOCR in %.1f s", time.perf_counter() - started)

    def read(self, path: Path) -> OcrText:
        self.load()
        started = time.perf_counter()
        result = self._engine(str(path))
        boxes = [] if result.boxes is None else [[list(p) for p in box] for box in result.boxes]
        lines = _rows(boxes, list(result.txts or ()))
        return _ocr_text(lines, started, self.name)


class TesseractEngine:
    """Tesseract through pytesseract, Simplified Chinese and English, one block of text."""

    name = "tesseract"

    def __init__(self, *, languages: str = "chi_sim+eng", page_mode: int = 6) -> None:
        self._languages = languages
        self._config = f"--psm {page_mode}"
        self._ready = False

    def load(self) -> None:
        if self._ready:
            return
        import pytesseract

        try:
            available = set(pytesseract.get_languages(config=""))
        except (pytesseract.TesseractNotFoundError, OSError) as exc:
            raise EngineUnavailable(
                "tesseract is not installed; apt-get install tesseract-ocr tesseract-ocr-chi-sim"
            ) from exc
        missing = set(self._languages.split("+")) - available
        if missing:
            raise EngineUnavailable(
                f"tesseract lacks the language data {', '.join(sorted(missing))}; "
                "apt-get install tesseract-ocr-chi-sim"
            )
        self._ready = True

    def read(self, path: Path) -> OcrText:
        self.load()
        import pytesseract

        started = time.perf_counter()
        with Image.open(path) as image:
            raw = pytesseract.image_to_string(
                image.convert("RGB"), lang=self._languages, config=self._config
            )
        lines = [_SPACE_IN_CHINESE.sub("", line).strip() for line in str(raw).splitlines()]
        return _ocr_text([line for line in lines if line], started, self.name)


def _rows(boxes: list[list[list[float]]], texts: list[str]) -> list[str]:
    """Boxes side by side on one row joined with a space, rows from top to bottom."""
    items = []
    for box, text in zip(boxes, texts, strict=False):
        ys = [point[1] for point in box]
        xs = [point[0] for point in box]
        items.append((min(ys), max(ys), min(xs), text))
    items.sort(key=lambda item: (item[0], item[2]))
    rows: list[list[tuple[float, float, float, str]]] = []
    for item in items:
        top, bottom = item[0], item[1]
        if rows:
            last = rows[-1]
            row_top, row_bottom = min(i[0] for i in last), max(i[1] for i in last)
            overlap = min(bottom, row_bottom) - max(top, row_top)
            if overlap > 0.5 * min(bottom - top, row_bottom - row_top):
                last.append(item)
                continue
        rows.append([item])
    return [" ".join(i[3] for i in sorted(row, key=lambda i: i[2])) for row in rows]


def _ocr_text(lines: list[str], started: float, backend: str) -> OcrText:
    lines = [line.strip() for line in lines if line.strip()]
    if not lines:
        raise NoTextFound(
            "no text could be read in the image; send a sharper screenshot or type your question"
        )
    text = "\n".join(lines)
    language = "zh" if _HAN.search(text) else "en"
    return OcrText(text, tuple(lines), language, time.perf_counter() - started, backend)


def build_ocr_engine(backend: OcrBackend) -> OcrEngine:
    """The configured OCR engine (not loaded yet)."""
    if backend == "rapidocr":
        return RapidOcrEngine()
    if backend == "tesseract":
        return TesseractEngine()
    raise EngineUnavailable(f"unknown OCR backend '{backend}'; use rapidocr or tesseract")
