"""A seeded synthetic ratings set shaped like MovieLens-100k, with item texts: SYNTHETIC DATA.

MovieLens cannot be downloaded on these machines and no installed package ships it, so figures
here come from this generator and must be labelled synthetic. Users and items have latent factors;
items cluster by category (which their bilingual names and descriptions reveal, so the content
model has a signal); item popularity follows a power law; each user rates a heavy-tailed number
of items chosen by affinity plus popularity, and the stars follow the affinity plus noise.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bot.recommend._types import CatalogueItem

logger = logging.getLogger(__name__)

# (category, zh noun, en noun, price range in yuan)
CATEGORIES: tuple[tuple[str, str, str, tuple[int, int]], ...] = (
    ("headphones", "耳机", "headphones", (99, 2999)),
    ("phones", "手机", "smartphone", (999, 7999)),
    ("running", "跑鞋", "running shoes", (199, 1299)),
    ("tea", "茶叶", "tea", (39, 899)),
    ("skincare", "护肤霜", "face cream", (59, 1299)),
    ("novels", "小说", "novel", (19, 99)),
    ("kitchen", "厨房电器", "kitchen appliance", (129, 3999)),
    ("toys", "积木玩具", "building toy", (49, 1499)),
    ("coffee", "咖啡豆", "coffee beans", (49, 399)),
    ("laptops", "笔记本电脑", "laptop", (2999, 12999)),
    ("jackets", "夹克", "jacket", (199, 1999)),
    ("snacks", "零食礼盒", "snack box", (29, 299)),
)
# Adjectives tied to latent dimensions: an item's strongest dimensions pick its words.
WORDS: tuple[tuple[str, str], ...] = (
    ("轻便", "lightweight"),
    ("高端", "premium"),
    ("实惠", "budget"),
    ("经典", "classic"),
    ("潮流", "trendy"),
    ("环保", "eco-friendly"),
    ("专业", "professional"),
    ("儿童", "for kids"),
    ("无线", "wireless"),
    ("复古", "retro"),
)


@dataclass(frozen=True)
class SyntheticData:
    """Ratings as (user, item, stars, unix time) rows and the catalogue of the items."""

    ratings: list[tuple[str, str, int, int]]
    catalogue: list[CatalogueItem]

    def write(self, folder: Path) -> tuple[Path, Path]:
        """Write ``u.data`` (MovieLens format) and ``catalogue.json``; return their paths."""
        folder.mkdir(parents=True, exist_ok=True)
        ratings = folder / "u.data"
        ratings.write_text(
            "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in self.ratings), encoding="utf-8"
        )
        catalogue = folder / "catalogue.json"
        catalogue.write_text(
            json.dumps([asdict(item) for item in self.catalogue], ensure_ascii=False, indent=0),
            encoding="utf-8",
        )
        return ratings, catalogue


def generate(
    users: int = 943,
    items: int = 1682,
    mean_ratings: int = 106,
    factors: int = len(WORDS),
    seed: int = 42,
) -> SyntheticData:
    """A SYNTHETIC ratings set; defaults match MovieLens-100k's size (943 × 1682, ~100k)."""
    rng = np.random.default_rng(seed)
    n_categories = len(CATEGORIES)
    centres = rng.normal(0, 1, (n_categories, factors))
    item_category = rng.integers(0, n_categories, items)
    item_vec = centres[item_category] + rng.normal(0, 0.6, (items, factors))
    # Users like one or two categories: their vector is near those centres.
    liked = rng.integers(0, n_categories, (users, 2))
    mix = rng.uniform(0.5, 1.0, (users, 1))
    user_vec = mix * centres[liked[:, 0]] + (1 - mix) * centres[liked[:, 1]]
    user_vec += rng.normal(0, 0.5, (users, factors))
    affinity = user_vec @ item_vec.T / np.sqrt(factors)
    popularity = -0.9 * np.log(rng.permutation(items) + 1.0)
    counts = np.clip(rng.lognormal(np.log(mean_ratings * 0.6), 0.8, users), 20, items // 3)
    rows: list[tuple[str, str, int, int]] = []
    start = 874_000_000
    for u in range(users):
        logits = 2.0 * affinity[u] + popularity
        p = np.exp(logits - logits.max())
        chosen = rng.choice(items, size=int(counts[u]), replace=False, p=p / p.sum())
        stars = np.clip(
            np.rint(3.4 + 1.1 * affinity[u, chosen] + rng.normal(0, 0.8, chosen.size)), 1, 5
        )
        times = np.sort(rng.integers(start, start + 20_000_000, chosen.size))
        rows += [
            (str(u + 1), str(i + 1), int(s), int(t))
            for i, s, t in zip(chosen, stars, times, strict=True)
        ]
    catalogue = [_item(i, CATEGORIES[item_category[i]], item_vec[i], rng) for i in range(items)]
    logger.info("Generated %d synthetic ratings for %d users and %d items", len(rows), users, items)
    return SyntheticData(rows, catalogue)


def _item(
    index: int,
    category: tuple[str, str, str, tuple[int, int]],
    vector: np.ndarray,
    rng: np.random.Generator,
) -> CatalogueItem:
    key, noun_zh, noun_en, (low, high) = category
    top = np.argsort(-vector)[:2]
    zh = "".join(WORDS[t][0] for t in top)
    en = " ".join(WORDS[t][1] for t in top)
    return CatalogueItem(
        id=str(index + 1),
        name_zh=f"{zh}{noun_zh} {index + 1}号",
        name_en=f"{en} {noun_en} No.{index + 1}",
        category=key,
        price=float(rng.integers(low, high + 1)),
        description_zh=f"一款{WORDS[top[0]][0]}、{WORDS[top[1]][0]}的{noun_zh}。",
        description_en=f"A {WORDS[top[0]][1]}, {WORDS[top[1]][1]} {noun_en}.",
        stock=int(rng.integers(0, 50)),
    )
