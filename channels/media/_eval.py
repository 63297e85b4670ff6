"""Accuracy and speed of the speech and OCR engines on a generated set.

The set: customer-service sentences spoken by espeak-ng (Chinese and English) and order-page
screenshots rendered in both languages with noise, blur and rotation. Scores: character error rate
for Chinese speech and for OCR, word error rate for English speech (jiwer), the real-time factor of
recognition and the seconds per image of OCR, and whether the order id survived OCR.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jiwer
from tqdm import tqdm

from channels.media._audio import decode_audio
from channels.media._errors import MediaRejected
from channels.media._facts import extract_facts
from channels.media._ocr import OcrEngine
from channels.media._samples import render_text_image, synthesize_speech
from channels.media._speech import SpeechEngine, finish_text

logger = logging.getLogger(__name__)

SENTENCES_ZH = (
    "我的订单什么时候发货",
    "我想退货，商品有质量问题",
    "请帮我查一下物流信息",
    "这个手机有现货吗",
    "我要取消订单",
    "怎么申请退款",
    "退款多久能到账",
    "我想修改收货地址",
    "快递到哪里了",
    "可以开发票吗",
    "会员积分怎么使用",
    "你们的客服电话是多少",
    "衣服尺码不合适可以换吗",
    "耳机坏了能保修吗",
    "我收到的商品有破损",
    "运费是多少钱",
    "支持花呗分期吗",
    "今天下单明天能到吗",
    "我想找人工客服",
    "优惠券用不了怎么办",
    "商品和图片不一样",
    "我的包裹一直没有更新",
    "请问营业时间是几点",
    "这个冰箱有几年保修",
)
SENTENCES_EN = (
    "Where is my order?",
    "I want to return this item.",
    "When will my refund arrive?",
    "Can I change my delivery address?",
    "Please cancel my order.",
    "The package arrived damaged.",
    "How much is the shipping fee?",
    "Do you ship to Shanghai?",
    "I would like to talk to a human agent.",
    "My coupon does not work.",
    "How do I use my membership points?",
    "Can I get an invoice for this order?",
    "The headphones stopped working after a week.",
    "Is this phone in stock?",
    "What are your customer service hours?",
    "I ordered the wrong size.",
    "How long does standard delivery take?",
    "Can I pay with a credit card?",
    "My tracking number does not show any updates.",
    "I have not received my package yet.",
    "The color is different from the picture.",
    "Is there a warranty on this laptop?",
)
# Several speakers: espeak-ng's variants of the same voice.
VARIANTS = (None, "f2", "m3", "f3")
STATUSES_ZH = ("待付款", "已付款", "已发货", "已签收", "已完成", "已取消", "退货中", "已退款")
STATUSES_EN = ("Pending payment", "Paid", "Shipped", "Delivered", "Completed", "Cancelled")
ITEMS_ZH = ("无线蓝牙耳机", "智能手机", "空气炸锅", "纯棉T恤", "保湿面霜", "小说全集", "坚果礼盒")
ITEMS_EN = ("Wireless earbuds", "Smartphone", "Air fryer", "Cotton T-shirt", "Face cream", "Novel")
CARRIERS = ("SF Express", "JD Logistics", "ZTO")
CARRIERS_ZH = ("顺丰速运", "京东物流", "中通快递")
# (noise, blur px, rotation °), cycled over the screenshots.
DISTORTIONS = ((0.0, 0.0, 0.0), (0.4, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 2.0),
               (0.3, 0.6, -1.5), (0.5, 0.8, 1.0), (0.2, 0.0, -3.0), (0.0, 1.2, 0.0))  # fmt: skip


@dataclass(frozen=True)
class Sample:
    """One item of the set: a file and what it says."""

    path: str
    language: str
    reference: str
    order_id: str | None = None


def build_eval_set(folder: Path, *, screenshots: int = 32, seed: int = 7) -> list[Sample]:
    """Write the clips and screenshots into ``folder`` (reused when present) and list them."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.json"
    if manifest.is_file():
        return [Sample(**item) for item in json.loads(manifest.read_text(encoding="utf-8"))]
    samples: list[Sample] = []
    clips = [("zh", s) for s in SENTENCES_ZH] + [("en", s) for s in SENTENCES_EN]
    for index, (language, sentence) in enumerate(tqdm(clips, desc="speech clips", unit="clip")):
        path = folder / f"{language}-{index:02d}.wav"
        variant = VARIANTS[index % len(VARIANTS)]
        synthesize_speech(sentence, language, path, variant=variant)
        samples.append(Sample(path.name, language, sentence))
    rng = random.Random(seed)
    for index in tqdm(range(screenshots), desc="screenshots", unit="image"):
        language = "zh" if index % 2 == 0 else "en"
        lines, order_id = _order_page(language, rng)
        noise, blur, angle = DISTORTIONS[index % len(DISTORTIONS)]
        path = folder / f"shot-{language}-{index:02d}.png"
        render_text_image(lines, path, noise=noise, blur=blur, angle=angle, seed=index)
        samples.append(Sample(path.name, language, "\n".join(lines), order_id))
    manifest.write_text(
        json.dumps([asdict(s) for s in samples], ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return samples


def _order_page(language: str, rng: random.Random) -> tuple[list[str], str]:
    order_id = f"YX2611{rng.randrange(10**6):06d}"
    amount = f"{rng.randrange(9, 3000)}.{rng.randrange(100):02d}"
    phone = f"1{rng.choice('3589')}{rng.randrange(10)}****{rng.randrange(10**4):04d}"
    tracking = f"SF{rng.randrange(10**12):012d}"
    day = f"2026-11-{rng.randrange(1, 28):02d} {rng.randrange(24):02d}:{rng.randrange(60):02d}"
    if language == "zh":
        lines = [
            "优选商城 订单详情",
            f"订单号：{order_id}",
            f"订单状态：{rng.choice(STATUSES_ZH)}",
            f"下单时间：{day}",
            f"商品：{rng.choice(ITEMS_ZH)} ×{rng.randrange(1, 4)}",
            f"实付金额：¥{amount}",
            f"收货人电话：{phone}",
            f"物流：{rng.choice(CARRIERS_ZH)} {tracking}",
        ]
    else:
        lines = [
            "YouXuan Mall Order details",
            f"Order No: {order_id}",
            f"Status: {rng.choice(STATUSES_EN)}",
            f"Placed: {day}",
            f"Item: {rng.choice(ITEMS_EN)} x{rng.randrange(1, 4)}",
            f"Paid: ¥{amount}",
            f"Phone: {phone}",
            f"Carrier: {rng.choice(CARRIERS)} {tracking}",
        ]
    return lines, order_id


def _chars(text: str) -> str:
    """Characters that count for CER: NFKC, Simplified, no spaces or punctuation."""
    return re.sub(r"[\W_]+", "", finish_text(unicodedata.normalize("NFKC", text), "zh")).lower()


def _words(text: str) -> str:
    """Words that count for WER: lower case, no punctuation."""
    return " ".join(re.sub(r"[^\w']+", " ", unicodedata.normalize("NFKC", text).lower()).split())


def _ocr_chars(text: str) -> str:
    """OCR is scored on every visible character, punctuation included."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def evaluate_speech(
    engine: SpeechEngine, samples: list[Sample], folder: Path, max_audio_s: float
) -> dict[str, Any]:
    """CER (zh), WER (en), language accuracy and real-time factor of one speech engine."""
    engine.load()
    hypotheses: dict[str, list[tuple[str, str]]] = {"zh": [], "en": []}
    audio_s = busy_s = 0.0
    right_language = 0
    clips = [s for s in samples if s.path.endswith(".wav")]
    for sample in tqdm(clips, desc=f"speech {engine.name}", unit="clip"):
        started = time.perf_counter()
        audio = decode_audio(folder / sample.path, max_audio_s)
        try:
            heard = engine.transcribe(audio, sample.language)
            text, language = heard.text, heard.language
        except MediaRejected:
            text, language = "", ""
        busy_s += time.perf_counter() - started
        audio_s += audio.duration_s
        right_language += language == sample.language
        hypotheses[sample.language].append((sample.reference, text))
    zh, en = hypotheses["zh"], hypotheses["en"]
    return {
        "cer_zh": round(jiwer.cer([_chars(r) for r, _ in zh], [_chars(h) for _, h in zh]), 4),
        "wer_en": round(jiwer.wer([_words(r) for r, _ in en], [_words(h) for _, h in en]), 4),
        "language_accuracy": round(right_language / max(1, len(clips)), 4),
        "real_time_factor": round(busy_s / max(audio_s, 1e-9), 4),
        "clips_zh": len(zh),
        "clips_en": len(en),
        "audio_seconds": round(audio_s, 1),
        "examples": [{"reference": r, "heard": h} for r, h in (zh[:3] + en[:3])],
    }


def evaluate_ocr(engine: OcrEngine, samples: list[Sample], folder: Path) -> dict[str, Any]:
    """CER overall and per language, seconds per image, and order ids read right."""
    engine.load()
    pairs: dict[str, list[tuple[str, str]]] = {"zh": [], "en": []}
    busy_s = 0.0
    found = 0
    images = [s for s in samples if s.path.endswith(".png")]
    for sample in tqdm(images, desc=f"ocr {engine.name}", unit="image"):
        started = time.perf_counter()
        try:
            text = engine.read(folder / sample.path).text
        except MediaRejected:
            text = ""
        busy_s += time.perf_counter() - started
        pairs[sample.language].append((sample.reference, text))
        found += sample.order_id in extract_facts(text).order_ids
    every = pairs["zh"] + pairs["en"]

    def cer(items: list[tuple[str, str]]) -> float:
        refs, hyps = [_ocr_chars(r) for r, _ in items], [_ocr_chars(h) for _, h in items]
        return round(jiwer.cer(refs, hyps), 4) if items else 0.0

    return {
        "cer": cer(every),
        "cer_zh": cer(pairs["zh"]),
        "cer_en": cer(pairs["en"]),
        "seconds_per_image": round(busy_s / max(1, len(images)), 3),
        "order_id_recall": round(found / max(1, len(images)), 4),
        "images": len(images),
    }


def run_eval(
    folder: Path,
    speech: Mapping[str, SpeechEngine],
    ocr: Mapping[str, OcrEngine],
    *,
    max_audio_s: float = 60.0,
    screenshots: int = 32,
) -> dict[str, Any]:
    """Build (or reuse) the set in ``folder`` and score every given engine on it."""
    samples = build_eval_set(folder, screenshots=screenshots)
    return {
        "set": {
            "speech_clips_zh": sum(s.language == "zh" and s.path.endswith(".wav") for s in samples),
            "speech_clips_en": sum(s.language == "en" and s.path.endswith(".wav") for s in samples),
            "screenshots": sum(s.path.endswith(".png") for s in samples),
            "folder": str(folder),
        },
        "speech": {
            name: evaluate_speech(e, samples, folder, max_audio_s) for name, e in speech.items()
        },
        "ocr": {name: evaluate_ocr(e, samples, folder) for name, e in ocr.items()},
    }
