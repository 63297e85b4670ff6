"""The copy checker (zh and en, invented prices, discounts and claims), its figures on the
shipped synthetic set, the templates, and the copy desk's review on a real SQLite database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.marketing import (
    AlreadyReviewed,
    CopyBrief,
    CopyChecker,
    CopyDesk,
    InvalidMarketingRequest,
    Product,
    VariantNotFound,
    score_checker,
    template_variants,
)
from bot.recommend import CATALOGUE, load_catalogue
from bot.storage import Database


@pytest.fixture(scope="module")
def checker() -> CopyChecker:
    items, _ = load_catalogue(CATALOGUE)
    return CopyChecker({i.id: Product(i.id, i.name_zh, i.name_en, i.price) for i in items})


# EL-005: Sony WH-1000XM5 headphones, ¥2299; 20% off -> ¥1839.2, saves ¥459.8.
BRIEF = CopyBrief(("EL-005",), discounts=(20.0,), claims=("free_shipping",), channel="sms")


@pytest.mark.parametrize(
    ("text", "language", "kinds"),
    [
        ("索尼 WH-1000XM5 降噪耳机 8折，到手价 ¥1839.2，包邮。回复退订不再接收。", "zh", []),
        ("索尼降噪耳机原价2299元，立减20%，省459.8元。", "zh", []),
        ("索尼降噪耳机到手价 ¥1599！", "zh", ["price"]),
        ("索尼降噪耳机仅需999，快来抢。", "zh", ["price"]),
        ("索尼降噪耳机 7折特惠。", "zh", ["discount"]),
        ("索尼降噪耳机半价！", "zh", ["discount"]),
        ("索尼降噪耳机买一送一。", "zh", ["claim"]),
        ("索尼降噪耳机全网最低价。", "zh", ["banned"]),
        ("索尼降噪耳机" + "超值" * 40, "zh", ["length"]),
        ("Sony WH-1000XM5 headphones: 20% off, now ¥1839.2. Free shipping.", "en", []),
        ("Sony headphones now $1,299!", "en", ["price"]),
        ("Sony headphones, only 1500 yuan.", "en", ["price"]),
        ("Sony headphones, only 3 left at ¥2299.", "en", ["claim"]),
        ("Sony headphones 35% off.", "en", ["discount"]),
        ("Sony headphones with a three-year warranty.", "en", ["claim"]),
        ("Sony headphones, the number one choice.", "en", ["banned"]),
        (
            "Sony headphones, ¥999, 50% off, best-selling, risk-free!",
            "en",
            ["banned", "claim", "discount", "price"],
        ),
        # Found on the blind dev split: "85折" is 15 % off, not 5折; a ranking-free 第一.
        ("索尼降噪耳机85折。", "zh", ["discount"]),
        ("索尼降噪耳机8.0折，第一次买也放心。", "zh", []),
        ("索尼降噪耳机行业第一。", "zh", ["banned"]),
        (
            "Sony headphones: just 4 pairs in black left at ¥1839.2, shipping's on us.",
            "en",
            ["claim"],
        ),
        ("Sony headphones at 80% of the usual price.", "en", []),
        ("Sony headphones, a fifth off, and members knock off another 10%.", "en", ["discount"]),
        ("Sony headphones: we'll fix it at no charge for two years.", "en", ["claim"]),
        ("Sony headphones, 8折, 月销过万。", "zh", ["claim"]),
        ("Sony headphones, unbeatable noise cancelling. Best wishes!", "en", ["banned"]),
    ],
)
def test_the_checker_finds_what_the_brief_does_not_back(
    checker: CopyChecker, text: str, language: str, kinds: list[str]
) -> None:
    found = checker.check(text, BRIEF, "en" if language == "en" else "zh")
    assert sorted({p.kind for p in found}) == kinds, found


def test_problems_name_the_words_at_fault(checker: CopyChecker) -> None:
    problems = checker.check("索尼降噪耳机到手价 ¥1599，买一送一！", BRIEF, "zh")
    assert [p.detail for p in problems] == [
        "claim 'gift' ('买一送一') is not in the brief",
        "price '¥1599' is not in the catalogue or brief",
    ]


@pytest.mark.parametrize(
    ("brief", "message"),
    [
        (dict(products=("EL-005",), claims=("cures_all",)), "unknown claims ['cures_all']"),
        (dict(products=("EL-005",), channel="fax"), "channel must be one of"),
        (dict(products=("EL-005",), discounts=(120.0,)), "discounts are percentages"),
    ],
)
def test_bad_briefs_are_refused(brief: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidMarketingRequest, match=message.replace("[", r"\[")):
        CopyBrief(**brief)  # type: ignore[arg-type]


def test_the_picks_placeholder_counts_as_the_names_it_will_hold(checker: CopyChecker) -> None:
    """SMS allows 70 Chinese characters: "{picks}" (7 characters) stands for up to 24."""
    sms = CopyBrief(("EL-005",), channel="sms")
    fits = "为您精选：" + "{picks}" + "。" * 40  # 5 + 24 + 40 = 69 once filled
    assert checker.check(fits, sms, "zh") == []
    too_long = fits + "。。"
    assert [p.detail for p in checker.check(too_long, sms, "zh")] == [
        "71 characters (counting {picks} as 24); sms allows 70"
    ]


def test_unknown_products_are_refused(checker: CopyChecker) -> None:
    with pytest.raises(InvalidMarketingRequest, match="products not in the catalogue: XX-1"):
        checker.check("hi", CopyBrief(("XX-1",)), "en")


@pytest.mark.parametrize("split", ["dev", "test"])
def test_the_checker_meets_its_goals_on_the_synthetic_set(checker: CopyChecker, split: str) -> None:
    score = score_checker(checker, split)
    assert score.variants == 88
    assert score.with_errors >= 40
    assert score.catch_rate >= 0.95, score.missed
    assert score.false_rejection_rate <= 0.05, score.wrongly_rejected


def test_the_hand_written_splits_are_scored_as_the_readme_says(checker: CopyChecker) -> None:
    """The hand-written sets (BLIND.md, FRESH.md) are all dev data now: their misses were read
    and the concept families (``_copy_phrasing.py``) widened from them. All planted errors are
    caught; the two rejections are rounded prices refused on purpose."""
    dev = score_checker(checker, "blind_dev")
    assert (dev.variants, dev.caught, dev.with_errors, dev.false_rejections) == (135, 71, 71, 0)
    seen = score_checker(checker, "blind_test")
    assert (seen.variants, seen.caught, seen.with_errors, seen.clean) == (134, 70, 70, 64)
    assert sorted(seen.wrongly_rejected) == ["blind-155", "blind-216"]  # ¥3,999 for 3,999.20
    fresh = score_checker(checker, "fresh_test")
    assert (fresh.variants, fresh.with_errors, fresh.clean) == (286, 143, 143)
    assert (fresh.caught, fresh.false_rejections) == (143, 0), (
        fresh.missed,
        fresh.wrongly_rejected,
    )
    with pytest.raises(InvalidMarketingRequest, match="split must be one of dev, test"):
        score_checker(checker, "train")


def test_the_fourth_set_is_scored_as_the_readme_says(checker: CopyChecker) -> None:
    """FRESH2.md: written after the concept families by someone who had read neither the checker
    nor the other sets, scored once (128 of 144, 4 of 135 rejected, 21 briefs with claims the
    platform had no key for); then read, so it is dev data: the five claim keys it used were
    added, and "100% cotton" is a composition. Its two derived amounts (a monthly instalment, a
    threshold) became clean with the fifth set's rules."""
    fresh2 = score_checker(checker, "fresh2_test")
    assert fresh2.unscorable == []
    assert (fresh2.variants, fresh2.with_errors, fresh2.clean) == (300, 150, 150)
    assert (fresh2.caught, fresh2.false_rejections) == (150, 0), (
        fresh2.missed,
        fresh2.wrongly_rejected,
    )


def test_the_fifth_set_is_scored_as_the_readme_says(checker: CopyChecker) -> None:
    """FRESH3.md: written by someone who had read neither the checker nor any other set, scored
    once (144 of 150 caught, 9 of 150 rejected); then read, so it is dev data now."""
    fresh3 = score_checker(checker, "fresh3_test")
    assert (fresh3.variants, fresh3.with_errors, fresh3.clean) == (300, 150, 150)
    assert (fresh3.caught, fresh3.false_rejections) == (150, 0), (
        fresh3.missed,
        fresh3.wrongly_rejected,
    )


def test_the_seventh_set_is_scored_as_the_readme_says(checker: CopyChecker) -> None:
    """FRESH5.md: by a writer who had read only the catalogue and the labelling brief, scored
    once: 116 of 120 caught (86 of 90 factual errors), 4 of 120 rejected; then read, so it is
    dev data now."""
    fresh5 = score_checker(checker, "fresh5_test")
    assert (fresh5.variants, fresh5.with_errors, fresh5.clean) == (240, 120, 120)
    assert (fresh5.caught, fresh5.false_rejections) == (120, 0), (
        fresh5.missed,
        fresh5.wrongly_rejected,
    )


def test_the_sixth_set_is_scored_as_the_readme_says(checker: CopyChecker) -> None:
    """FRESH4.md: written by someone who had read neither the checker nor any other set, scored
    once (142 of 150 caught, all eight misses claims; 6 of 150 rejected); then read, so it is dev
    data now."""
    fresh4 = score_checker(checker, "fresh4_test")
    assert (fresh4.variants, fresh4.with_errors, fresh4.clean) == (300, 150, 150)
    assert (fresh4.caught, fresh4.false_rejections) == (150, 0), (
        fresh4.missed,
        fresh4.wrongly_rejected,
    )


@pytest.mark.parametrize(
    ("text", "claims", "kinds"),
    [
        ("小米14手机9折3599.1元，支持12期免息。", ("installment",), []),
        ("小米14手机9折3599.1元，支持12期免息。", (), ["claim"]),
        ("Xiaomi 14, 10% off: ¥3,599.10, interest-free instalments.", (), ["claim"]),
        ("小米14手机9折3599.1元，买贵了退差价。", ("price_match",), []),
        ("小米14手机9折3599.1元，买贵了退差价。", (), ["claim"]),
        ("Xiaomi 14, 10% off: ¥3,599.10. Members only.", (), ["claim"]),
        ("小米14手机9折3599.1元，本店独家发售。", (), ["claim"]),
        ("小米14手机新品首发，9折3599.1元。", (), ["claim"]),
        ("小米14手机新款，9折3599.1元。", (), []),
        # derived amounts that are exact: an instalment, a threshold, a difference
        ("小米14手机3999元，可分3期，每期1333元。", ("installment",), []),
        ("小米14手机3999元，可分3期，每期1330元。", ("installment",), ["price"]),
        ("Xiaomi 14: ¥3,999, or 6 payments of ¥666.50.", ("installment",), []),
        ("小米14手机3999元，订单满99元包邮。", ("free_shipping",), []),
        ("Xiaomi 14: ¥3,999. Delivery is free on orders over ¥88.", ("free_shipping",), []),
        ("小米14手机3999元，全场满199再减30。", (), ["discount"]),
        ("小米14手机3999元，16点前下单当天发出。", (), []),
        ("小米14手机3999元，今晚12点前下单享此价。", (), ["claim"]),
        ("Xiaomi 14: ¥3,999. Seen it cheaper? We'll match it.", (), ["claim"]),
        ("Xiaomi 14: ¥3,999, a colour you won't find anywhere else.", (), ["claim"]),
        ("Just launched: Xiaomi 14, ¥3,999", (), ["claim"]),
        ("For Yuegou Club members: Xiaomi 14 at ¥3,999", (), ["claim"]),
        ("小米14手机不到三千就能拿下。", (), ["price"]),
        ("小米14手机不到四千就能拿下。", (), []),
        ("小米14手机3999元，可分6期付款。", (), ["claim"]),
        ("小米14手机3999元，活动48小时后结束。", (), ["claim"]),
        ("小米14手机3999元，这个颜色只在悦购有售。", (), ["claim"]),
        ("小米14手机3999元，送同款手机壳一个。", (), ["claim"]),
        ("小米14手机3999元，送爸妈正合适。", (), []),
        ("Official Xiaomi 14, ¥3,999", (), ["claim"]),
        ("Xiaomi 14: ¥3,999, with a 2-year repair-or-replace guarantee.", (), ["claim"]),
        ("Xiaomi 14: ¥3,999. Try it for 7 days.", (), []),
        ("Xiaomi 14: ¥3,999. The price holds for 3 days.", (), ["claim"]),
        ("小米14手机3999元，颜色#12有货。", (), []),
        ("小米14手机3999元，价保30天，降价可申请退还差价。", ("price_match",), []),
        ("Xiaomi 14: ¥3,999. Spread it over 6 payments.", (), ["claim"]),
        ("Xiaomi 14: ¥3,999, over 5,000 five-star reviews.", (), ["claim"]),
        ("Xiaomi 14: ¥3,999, no delivery charge.", (), ["claim"]),
        ("Xiaomi 14, 10% off: ¥3,599.10, plus another 5% in the app.", (), ["discount"]),
        ("小米14手机3999元，附带2个保护膜。", (), []),
        ("Xiaomi 14: ¥3,999. Our store is open till 9:30pm.", (), []),
        ("Xiaomi 14: ¥3,999. The best before date is on the box.", (), []),
        # numerals that are no count or bound are no crash
        ("小米14手机不到零就能拿下。", (), ["price"]),
        ("小米14手机3999元，分〇期。", (), ["claim"]),
        ("小米14手机不到万就能拿下。", (), ["price"]),
        (
            "Xiaomi 14, 10% off: ¥3,599.10. 100% cotton case included? No: 100% genuine.",
            (),
            ["banned", "claim"],
        ),
        ("Xiaomi 14, 10% off: ¥3,599.10. The world's lightest flagship.", (), ["banned"]),
    ],
)
def test_the_keys_and_words_added_after_the_fourth_set(
    checker: CopyChecker, text: str, claims: tuple[str, ...], kinds: list[str]
) -> None:
    brief = CopyBrief(("EL-002",), discounts=(10.0,), claims=claims, channel="webchat")
    assert (
        sorted({p.kind for p in checker.check(text, brief, "zh" if text[0] > "~" else "en")})
        == kinds
    )


# Members of the concept families in words no split uses: a new wording of either idea of a
# claim (a delivery and "free"; a fault and a repair), Chinese numerals, a bare percent beside an
# offer word, a coupon. Brief: EL-005 (¥2299), 20% off, no claims.
@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("索尼降噪耳机8折，快递费由我们承担。", ["claim"]),
        ("Sony headphones, 20% off. Delivery won't cost you a penny.", ["claim"]),
        ("Sony headphones, 20% off. Not happy? Get your money back within 30 days.", ["claim"]),
        ("索尼降噪耳机8折，两年内出故障免费上门维修。", ["claim"]),
        (
            "Sony headphones, 20% off; should they break in year one, we'll send a replacement.",
            ["claim"],
        ),
        ("索尼降噪耳机8折，这个价格只持续到周日。", ["claim"]),
        ("Sony headphones, 20% off — this deal disappears at midnight.", ["claim"]),
        ("索尼降噪耳机8折，库存紧张，先到先得。", ["claim"]),
        ("Sony headphones, 20% off. We only have a few pairs in stock.", ["claim"]),
        ("索尼降噪耳机8折，上个月卖了三千多副。", ["claim"]),
        ("Sony headphones, 20% off. Thousands of happy customers can't be wrong.", ["claim"]),
        ("索尼降噪耳机8折，品牌官方直营，假货包赔。", ["claim"]),
        ("Sony headphones, 20% off, and we'll add a spare cable for free.", ["claim"]),
        ("索尼降噪耳机8折，戴上立即缓解偏头痛。", ["banned"]),
        ("Sony headphones, 20% off: the best noise cancelling you'll ever hear.", ["banned"]),
        ("Sony headphones, 20% off: the world's finest.", ["banned"]),
        ("索尼降噪耳机七五折。", ["discount"]),
        ("索尼降噪耳机8折，会员再享额外9.5折。", ["discount"]),
        ("Sony headphones, 20% off, and an extra 5% at checkout.", ["discount"]),
        ("Sony headphones: 25 percent off this week.", ["discount"]),
        ("索尼降噪耳机下单立减三成。", ["discount"]),
        ("索尼降噪耳机满2000减300。", ["discount"]),
        ("索尼降噪耳机8折后只要一千五百九十九块。", ["price"]),
        ("索尼降噪耳机现价1799。", ["price"]),
        ("索尼降噪耳机8折，不到1500元。", ["price"]),
        ("索尼降噪耳机8折，1700多元。", ["price"]),
        ("索尼降噪耳机原价两千三块。", ["price"]),  # the spoken 两千三 is 2300, not 2003
        # the same ideas taken back, measured or bounded truly: nothing to refuse
        ("索尼降噪耳机8折，到手价一千八百三十九点二元。", []),
        ("索尼降噪耳机8折，不到1840元就能入手；港澳台不包邮。", []),
        ("Sony headphones, 20% off at ¥1,839.20. This item isn't eligible for free shipping.", []),
        ("索尼降噪耳机8折，不支持7天无理由退货。", []),
        ("Sony headphones, 20% off; they block up to 95% of cabin hum, 30 hours a charge.", []),
        ("索尼降噪耳机8折，可以免费试听，充电才10分钟能听5小时。", []),
        ("Sony headphones, 20% off. Feel free to reply with questions; ships within 48 hours.", []),
    ],
)
def test_new_words_for_known_ideas_are_found(
    checker: CopyChecker, text: str, kinds: list[str]
) -> None:
    brief = CopyBrief(("EL-005",), discounts=(20.0,), channel="webchat")
    found = checker.check(text, brief, "en" if text.isascii() else "zh")
    assert sorted({p.kind for p in found}) == kinds, found


@pytest.mark.parametrize(
    ("text", "claims", "kinds"),
    [
        # Lookalikes the fresh set found refused (fixed): none of them claims anything.
        ("Sony headphones ¥1839.2 with free delivery.", ("free_shipping",), []),
        ("索尼降噪耳机，最低一档几乎听不到风声。", (), []),
        ("《三体》周末读完第一部刚刚好。", (), []),
        ("索尼降噪耳机，中秋送礼正当时。", (), []),
        ("Sony headphones. All the best, Customer Care", (), []),
        ("Sony headphones with a free pouch.", (), ["claim"]),
        ("索尼降噪耳机，史上最舒适。", (), ["banned"]),
    ],
)
def test_lookalikes_pass_and_claims_do_not(
    checker: CopyChecker, text: str, claims: tuple[str, ...], kinds: list[str]
) -> None:
    brief = CopyBrief(("EL-005",), discounts=(20.0,), claims=claims, channel="webchat")
    found = checker.check(text, brief, "en" if text.isascii() else "zh")
    assert sorted({p.kind for p in found}) == kinds, found


@pytest.mark.parametrize("language", ["zh", "en"])
def test_templates_pass_the_checker(checker: CopyChecker, language: str) -> None:
    brief = CopyBrief(("CL-002",), discounts=(15.0,), claims=("limited_time",))
    variants = template_variants(checker, brief, "en" if language == "en" else "zh")
    assert len(variants) == 3
    assert all("429" in v for v in variants[:1])
    plain = template_variants(checker, CopyBrief(("CL-002",)), "zh")
    assert all("折" not in v for v in plain)


@pytest.fixture
async def desk(tmp_path: Path, checker: CopyChecker) -> AsyncIterator[CopyDesk]:
    database = Database(f"sqlite:///{tmp_path}/hub.db")
    await database.migrate()

    async def catalogue() -> dict[str, Product]:
        return checker.catalogue

    yield CopyDesk(database, catalogue)
    database.dispose()


async def test_templates_are_drafted_stored_and_reviewed(desk: CopyDesk) -> None:
    brief = CopyBrief(("EL-005",), discounts=(20.0,), claims=("limited_time",))
    drafted = await desk.draft("spring", brief, "zh", n=3)
    assert [(v.source, v.status, v.problems) for v in drafted] == [("template", "pending", [])] * 3
    first, second, third = drafted
    approved = await desk.review(first.id, "approve", "ana")
    assert (approved.status, approved.reviewer, approved.final_text) == (
        "approved",
        "ana",
        first.text,
    )
    edit = "索尼降噪耳机限时8折，到手价 ¥1839.2。回复退订不再接收。"
    edited = await desk.review(second.id, "edit", "ana", edit)
    assert (edited.status, edited.text, edited.edited_text) == ("approved", second.text, edit)
    rejected = await desk.review(third.id, "reject", "bo")
    assert rejected.status == "rejected"
    assert [v.id for v in await desk.variants("spring", "approved")] == [first.id, second.id]


async def test_reviews_cannot_be_replayed_or_smuggle_errors(desk: CopyDesk) -> None:
    brief = CopyBrief(("EL-005",), discounts=(20.0,), claims=("limited_time",))
    variant = (await desk.draft("summer", brief, "en", n=1))[0]
    with pytest.raises(InvalidMarketingRequest, match=r"the edit does not pass the checker: price"):
        await desk.review(variant.id, "edit", "ana", "Sony headphones now ¥999!")
    assert (await desk.variants("summer"))[0].status == "pending"  # nothing changed
    with pytest.raises(InvalidMarketingRequest, match="an edit needs the edited text"):
        await desk.review(variant.id, "edit", "ana", "  ")
    with pytest.raises(InvalidMarketingRequest, match="reviewer must be"):
        await desk.review(variant.id, "approve", "<script>")
    await desk.review(variant.id, "approve", "ana")
    with pytest.raises(AlreadyReviewed, match=f"variant {variant.id} is approved, not pending"):
        await desk.review(variant.id, "reject", "bo")
    with pytest.raises(VariantNotFound, match="no copy variant has id 999"):
        await desk.review(999, "approve", "ana")


async def test_a_writer_that_invents_prices_is_blocked(
    tmp_path: Path, checker: CopyChecker
) -> None:
    """What a model writes is checked like anything else; here a local OpenAI-free writer
    stands for the model's raw text (the real model runs in test_marketing_llm)."""
    database = Database(f"sqlite:///{tmp_path}/hub.db")
    await database.migrate()

    async def writer(prompt: str) -> str:
        assert "索尼 WH-1000XM5 降噪耳机 ¥2299" in prompt
        return (
            "1. 索尼降噪耳机 8折，到手价 ¥1839.2！回复退订不再接收。\n2. 索尼降噪耳机只要 ¥999！\n"
        )

    async def catalogue() -> dict[str, Product]:
        return checker.catalogue

    desk = CopyDesk(database, catalogue, writer)
    brief = CopyBrief(("EL-005",), discounts=(20.0,))
    drafted = await desk.draft("llm", brief, "zh", n=2)
    assert [(v.source, v.status) for v in drafted] == [("llm", "pending"), ("llm", "blocked")]
    assert drafted[0].text == "索尼降噪耳机 8折，到手价 ¥1839.2！回复退订不再接收。"
    assert [p.kind for p in drafted[1].problems] == ["price"]
    database.dispose()


def test_long_runs_of_figures_are_read_all_the_same(checker: CopyChecker) -> None:
    """A pasted run of thousands of figures is cut before the amount patterns read it (they
    backtrack over a run); what the run says is still judged."""
    brief = CopyBrief(("EL-002",), discounts=(10.0,), claims=(), channel="email")
    wrong = checker.check("小米14手机到手价¥" + "9" * 3000 + "。", brief, "zh")
    assert "price" in {p.kind for p in wrong}, wrong
    fine = checker.check("订单号" + "1" * 3000 + "。小米14手机9折3599.1元。", brief, "zh")
    assert not {p.kind for p in fine} & {"price", "discount", "claim"}, fine
    percents = checker.check("小米14手机" + "9折，" * 300 + "8折，90%白鸭绒", brief, "zh")
    assert [p.detail for p in percents] == ["discount '8折' (20% off) is not in the brief"], (
        percents
    )
