"""Writes the copy checker's synthetic evaluation set: ``bot/marketing/copy_eval/{dev,test}.jsonl``.

Synthetic, written for this project: sentence frames in zh and en, filled from the demo
catalogue and a brief, half of them with one planted error (a wrong price, an unoffered
discount, a claim the brief does not allow, a banned word, or over-length text). Some planted
errors use phrasings the checker has no pattern for ("shipping is on us", "运费我们出"), so the
set measures misses too. Run: ``.venv/bin/python -m bench.marketing_copy_set`` (seeded).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from bot.recommend import CATALOGUE

OUT = Path(__file__).resolve().parents[1] / "bot" / "marketing" / "copy_eval"

CLEAN = {
    "zh": [
        "{name}限时{zhe}折，到手价 ¥{final}，{claim_zh}回复退订不再接收。",
        "您关注的{name}降价啦：原价{price}元，现在只要{final}元！回复退订不再接收。",
        "{name} 今日特惠 {zhe}折（原价 ¥{price}），{claim_zh}点击查看。",
        "老客专享：{name} 立减{off}%，省下{saved}元。回复退订不再接收。",
        "为您挑选了{name}，现价 ¥{final}。{claim_zh}回复退订不再接收。",
        "{name}回来了！{zhe}折入手仅需{final}元。",
    ],
    "en": [
        "The {name} is {off}% off for a limited time: now ¥{final}. {claim_en}"
        "Reply STOP to opt out.",
        "Still thinking about the {name}? It was ¥{price}, now just ¥{final}. "
        "Reply STOP to opt out.",
        "Today only: {off}% off the {name} (¥{price} before). {claim_en}Tap to see it.",
        "Save ¥{saved} on the {name} this week. {claim_en}Reply STOP to opt out.",
        "Picked for you: the {name}, now ¥{final}. Reply STOP to opt out.",
        "The {name} is back in stock at {final} yuan with {off}% off. {claim_en}",
    ],
}
CLAIM_TEXT = {
    "free_shipping": ("全场包邮，", "Free shipping. "),
    "genuine": ("官方授权正品，", "Genuine, officially licensed. "),
    "free_returns": ("支持7天无理由退货，", "Free returns within 7 days. "),
}
# Claims planted where the brief does not allow them; the last of each list has no pattern.
PLANTED_CLAIMS = {
    "zh": ["下单即送精美赠品，", "仅剩3件，", "销量冠军，", "整机保修三年，", "运费我们出，"],
    "en": [
        "Free gift with every order. ",
        "Only 3 left! ",
        "Our best-selling model. ",
        "Three-year warranty included. ",
        "Shipping is on us. ",
    ],
}
PLANTED_BANNED = {
    "zh": ["全网最低价！", "销量第一，", "国家级品质，", "绝对划算，"],
    "en": ["Lowest price ever! ", "The number one choice. ", "Risk-free. ", "A miracle buy. "],
}


def _item(rng: random.Random, products: list[dict[str, object]]) -> dict[str, object]:
    product = rng.choice(products)
    off = rng.choice([10, 15, 20, 30, 50])
    claim = rng.choice(list(CLAIM_TEXT))
    price = float(product["price"])  # type: ignore[arg-type]
    final = round(price * (1 - off / 100), 2)
    return {
        "product": product,
        "off": off,
        "claim": claim,
        "price": price,
        "final": final,
        "saved": round(price * off / 100, 2),
    }


def _fill(frame: str, language: str, item: dict[str, object], claim_text: str) -> str:
    product = item["product"]
    assert isinstance(product, dict)
    name = product["name_zh"] if language == "zh" else product["name_en"]
    off = int(item["off"])  # type: ignore[call-overload]
    zhe = f"{(100 - off) / 10:g}"
    return frame.format(
        name=name,
        zhe=zhe,
        off=off,
        price=f"{item['price']:g}",
        final=f"{item['final']:g}",
        saved=f"{item['saved']:g}",
        claim_zh=claim_text if language == "zh" else "",
        claim_en=claim_text if language == "en" else "",
    )


def build(seed: int = 2026) -> list[dict[str, object]]:
    """The whole set, labelled; each row: id, language, channel, brief, text, errors."""
    rng = random.Random(seed)
    products = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    rows: list[dict[str, object]] = []
    for n in range(176):
        language = "zh" if n % 2 == 0 else "en"
        item = _item(rng, products)
        frame = rng.choice(CLEAN[language])
        zh_claim, en_claim = CLAIM_TEXT[str(item["claim"])]
        claim_text = zh_claim if language == "zh" else en_claim
        text = _fill(frame, language, item, claim_text)
        errors: list[str] = []
        kind = rng.choice(
            ["none", "none", "none", "price", "discount", "claim", "banned", "length"]
        )
        if kind == "price":
            wrong = round(float(item["final"]) * rng.choice([0.5, 0.8, 0.9]) - 1, 0)  # type: ignore[arg-type]
            text = text.replace(f"{item['final']:g}", f"{wrong:g}", 1)
            errors = ["price"] if f"{wrong:g}" in text else []
        elif kind == "discount":
            wrong_off = rng.choice([o for o in (25, 40, 60, 70) if o != item["off"]])
            if language == "zh":
                text = text.replace("回复退订", f"再叠加{(100 - wrong_off) / 10:g}折！回复退订", 1)
                if "回复退订" not in text:
                    text += f"再叠加{(100 - wrong_off) / 10:g}折！"
            else:
                text = f"Extra {wrong_off}% off today. " + text
            errors = ["discount"]
        elif kind == "claim":
            planted = rng.choice(PLANTED_CLAIMS[language])
            text = planted + text
            # "Shipping is on us" is a free-shipping claim: no error when the brief allows it.
            shipping = planted == PLANTED_CLAIMS[language][-1]
            errors = [] if shipping and item["claim"] == "free_shipping" else ["claim"]
        elif kind == "banned":
            text = rng.choice(PLANTED_BANNED[language]) + text
            errors = ["banned"]
        elif kind == "length":
            filler = "，欢迎选购" * 12 if language == "zh" else " Come and have a look." * 8
            text = text + filler
            errors = ["length"]
        brief = {
            "products": [item["product"]["id"]],  # type: ignore[index]
            "discounts": [float(item["off"])],  # type: ignore[arg-type]
            "claims": [item["claim"], "limited_time"],
            "channel": "sms",
        }
        rows.append(
            {
                "id": f"copy-{n:03d}",
                "language": language,
                "channel": "sms",
                "brief": brief,
                "text": text,
                "errors": errors,
            }
        )
    return rows


def main() -> None:
    rows = build()
    OUT.mkdir(parents=True, exist_ok=True)
    half = len(rows) // 2
    for name, part in (("dev", rows[:half]), ("test", rows[half:])):
        with (OUT / f"{name}.jsonl").open("w", encoding="utf-8") as handle:
            for row in part:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(json.dumps({"rows": len(rows), "dev": half, "test": len(rows) - half}))


if __name__ == "__main__":
    main()
