"""Marketing copy: the checker every variant passes before a human sees it, and the templates
used when no LLM is configured.

The checker rejects a variant that states a price, a discount or a claim the brief and the
catalogue do not back, uses a banned word, or is too long for the channel. Rules, not a model:
each rejection must name the exact words at fault so the reviewer can fix them, and a missed
price is worse than a false alarm. Prices are numbers marked as money (¥, 元, 块, RMB, $, a
price word such as 现价 or "only", Chinese numerals); numbers in product names ("Mate 60",
"230ml") are not prices. Claims are found by concept families (``_copy_phrasing.py``: two ideas
in one clause, negation taken into account) as well as by the phrasings below.
"""

from __future__ import annotations

import json
import re
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from bot.marketing._copy_phrasing import CN_NUMBER, cn_to_number, first_affirmed, stated_claims
from bot.marketing._errors import InvalidMarketingRequest

Language = Literal["zh", "en"]
ProblemKind = Literal["price", "discount", "claim", "banned", "length"]
PROBLEM_KINDS: tuple[ProblemKind, ...] = ("price", "discount", "claim", "banned", "length")

# Characters per channel and language (SMS: one GSM segment in English, one UCS-2 in Chinese).
LENGTH_LIMITS: dict[str, dict[str, int]] = {
    "sms": {"zh": 70, "en": 160},
    "push": {"zh": 60, "en": 120},
    "webchat": {"zh": 200, "en": 400},
    "email_subject": {"zh": 30, "en": 78},
    "email": {"zh": 2000, "en": 4000},
}

# Where a campaign message names the items recommended to its recipient ("{picks}" in the
# approved copy, filled at sending); the length check counts it as this many characters.
PICKS = "{picks}"
PICKS_RESERVE: dict[str, int] = {"zh": 24, "en": 60}

# Claims a variant may make only when the brief lists them. The first phrasings came from the
# generated dev split; those marked "blind dev" from reading the misses on the hand-written
# blind_dev split (BLIND.md), and "blind test" from blind_test's misses after its one report,
# in general forms rather than the rows' exact words. fresh_test's misses (FRESH.md) widened the
# concept families of ``_copy_phrasing.CLAIM_FAMILIES`` instead; every split is dev data now.
CLAIMS: dict[str, str] = {
    "free_shipping": r"包邮|免运费|免邮|运费我们出|free (?:shipping|delivery)|ships free"
    # fresh5 test, after its report
    r"|\bno (?:delivery|shipping|postage|carriage) (?:charges?|fees?|costs?)"
    r"|zero (?:delivery|shipping|postage)"
    r"|shipping is on us"
    # blind dev: the shop pays the carriage, in other words
    r"|ships? (?:for )?free|(?:postage|shipping|delivery) (?:is|'s) (?:on us|free|covered)"
    r"|we(?:'ll)? (?:cover|pay for|pick up) (?:the )?(?:delivery|shipping|postage)"
    r"|(?:won't|don't|will not|do not) charge (?:you )?(?:for )?(?:delivery|shipping)"
    r"|(?<!退回)(?<!退货)(?<!寄回)运费.{0,6}(?:我们|商家|本店|店铺)(?:来)?(?:付|出|承担|包)|送货上门不收费|不收运费",
    "limited_time": r"限时|仅限今[天日]|今日特惠|今晚截止|倒计时|limited[- ]time|today only"
    r"|ends (?:tonight|soon|today)"
    # blind dev: a deadline or a price that will not last
    r"|this (?:weekend|week|month) only|only (?:this|until|till) |(?:offer|sale|deal|price)s? "
    r"(?:ends?|goes back up|expires?)|back (?:up )?to full price|while (?:supplies|stocks?) last"
    r"|截止|仅限本?周|活动结束|恢复原价|过期不候|最后一天|仅此[一]?[天周]"
    r"|(?:月底|月末|周末|今晚|明天|本周|这周)(?:之)?前|才有这个价|过了.{0,6}就(?:没|恢复|涨)"
    # blind test
    r"|(?:offer|sale|deal)s? (?:closes?|finish(?:es)?)|at midnight|until midnight|午夜|零点前",
    "gift": r"赠品|送.{0,4}礼[品物包]|买一送一|free gift|buy one,? get one|bogo"
    # blind dev: "comes with a free ...", "下单即送"
    r"|(?:comes|come) with a free|(?:a |an )?free .{0,20}with (?:every|each|your) "
    r"|[即就加附赠]送(?!货|达|出)|[附加另]赠"
    # blind test: something thrown in
    r"|throw(?:s|ing)? in|(?:gets?|receive|with) (?:a |an )?(?:free|complimentary|bonus) "
    r"(?!shipping|delivery|postage|returns?|exchanges?)"
    r"|\bcomplimentary\b|\bon the house\b",
    "free_returns": r"[七7]天无理由|无理由退[货换]|free returns|no-questions-asked returns"
    r"|7-day returns"
    # blind dev
    r"|return (?:it|them) (?:for free|within \d+ days)|money[- ]back|不喜欢.{0,6}退|包退"
    # blind test: taking it back, however said
    r"|no questions asked|(?:get|give you) a (?:full )?refund|send (?:it|them) back"
    r"|take (?:it|them) back|(?:随时|都|均)(?:可以|能)?退(?!订)|可以退(?!订)",
    "genuine": r"正品|官方授权|genuine|authentic|officially licensed"
    # blind dev: authenticity said otherwise
    r"|anti-counterfeit|the real thing|原装|行货|假一赔|防伪"
    # blind test
    r"|knock-?offs?|\bnot a fake\b|certified origin|正版|官方渠道|假一[罚赔]",
    "warranty": r"保修|质保|warranty"
    # blind dev: a repair promise without the word
    r"|(?:repair|fix|replace)\w*\b.{0,40}(?:at no (?:cost|charge)|free of charge|for free)"
    r"|(?:包修|包换|免费维修|坏了.{0,6}[修换])",
    "low_stock": r"仅剩|库存告急|最后\s*\d+\s*件|only \d+ left|almost sold out|selling fast"
    # blind dev: scarcity
    r"|going fast|(?:when|once) (?:they're|they are) gone|selling out|just \d+ .{0,15}left"
    r"|手慢无|售完即止|卖完即止|数量有限|所剩无几|即将售罄"
    # blind test
    r"|only (?:a )?(?:few|handful)\b|only .{0,30}\bleft\b|last (?:few|one|pieces?)\b",
    # fresh2 test: claims a shop makes that the first keys did not cover
    "installment": r"免息|分期|installments?|interest[- ]free|pay (?:in|over) \d+ months"
    # fresh4 test, after its report: "可分6期付款"
    rf"|分\s*(?:\d+|{CN_NUMBER})\s*期"
    # fresh3 test: paying by the month, however said
    r"|spread (?:the |your )?(?:cost|payments?|price|bill)"
    # fresh5 test, after its report
    r"|spread (?:it|that|this|them|the \w+) (?:out )?(?:over|across) \d+|(?:with )?no interest"
    r"|zero[- ]interest|no[- ]interest|0 ?% (?:interest|APR)\b"
    r"|split (?:it|the (?:cost|price|payment|bill)|your (?:payment|bill)) (?:into|over|across)"
    r"|\d+ (?:monthly|equal) payments|月供|按月付",
    "price_match": r"(?:保价|价保|补差价|退差价|买贵(?:了)?退)|price[- ](?:match|protection)"
    r"|refund the difference|(?:pay|refund) you the difference"
    # fresh3 test: meeting another shop's price
    r"|\bwe(?:'ll| will)? (?:happily )?match (?:it|that|their|the|any)\b"
    r"|match (?:their|that|any|a lower|the lower|competitors'?) (?:price|offer)"
    r"|beat (?:their|any|that) price|别家更便宜|比别家贵.{0,6}[补退赔]",
    # a launch, not any new style: "新款" and "上新" describe the goods in clean copy (blind sets)
    "new_arrival": r"新品(?:上市|上架|首发)|首发|just (?:landed|arrived|in)\b"
    r"|new (?:arrival|in|season|release)|brand[- ]new (?:model|collection|range)"
    # fresh3 test: a launch, however said
    r"|\b(?:just|newly|freshly) (?:launched|released|arrived|landed|in stock|out)\b"
    r"|launch(?:es|ed)? (?:today|this (?:week|month))|\bnew launch|\bout now\b"
    r"|新品|刚上市|全新上市",
    "member_only": r"会员(?:专享|价|独享|特权)|members?[- ]only|(?:for|to) (?:our )?members\b"
    r"|member(?:s'?)? price|仅限会员"
    # fresh3 test: a price or offer for a club's members
    r"|\bfor (?:our |all )?(?:\w+ )?(?:club|vip|loyalty|plus|premium) members\b"
    r"|\b(?:club|vip|loyalty|plus) members? (?:only|price|deal|offer|get|enjoy|pay)"
    r"|会员专属|会员(?:才|可享|享|日)|VIP专享|(?:黑卡|金卡|PLUS|plus)会员",
    "exclusive": r"独家|独有|只此一家|别(?:家|处)买不到|exclusive(?:ly)?|only (?:at|from|on) "
    r"(?:us|yuegou|our)|can't (?:get|find) (?:it|this|them) anywhere else"
    # fresh3 test: nowhere else sells it
    r"|(?:won't|can't|cannot|will not|couldn't|don't) (?:find|get|buy|see)\b.{0,30}?(?:anywhere "
    r"(?:else|but)|elsewhere)"
    # fresh4 test, after its report: "这个版本只在悦购有售"
    r"|[只仅](?:在|有)[^，,。！!\s]{1,8}(?:有售|才有|有卖|销售|发售|买得到|能买到|独家)"
    r"|anywhere (?:else|but (?:us|here|yuegou))|nowhere else|not (?:sold|available) "
    r"(?:anywhere else|elsewhere)|别(?:家|处|的地方)(?:都)?没有"
    r"|其他(?:地方|店|平台)(?:都)?(?:买不到|没有)",
    "bestseller": r"销量冠军|爆款|热销|best[- ]?sell(?:er|ing)|top[- ]selling"
    # blind dev: popularity
    r"|月销|销量.{0,4}[万千]|家家都有|人手一|everyone(?:'s| is) (?:buying|getting)|sold \d[\d,]* "
    r"|flying off the shelves"
    # blind test: popularity, however said
    r"|runaway hit|\ba (?:big |huge )?hit with|(?:everyone|every \w+)(?: in [\w ]+)? (?:is|are|'s) "
    r"(?:buying|getting|using|wearing|reading|lacing|loving|raving|grabbing|ordering)"
    r"|回购|排行榜|榜单|常客",
}

# Absolute words China's advertising law forbids (art. 9: 国家级、最高级、最佳 and the like), and
# health or results promises. Lookalikes that rank nothing stay legal: 第一次, 第一口, 第一时间,
# 最近, 最多, 最后 (a count or a time), "best wishes", "first order".
BANNED = (
    r"最低价|最便宜|最好|最佳|第一(?!次|口|步|眼|时间|单|件|天|批|波|个|位|部|卷|集|章|季|期|页)|国家级|全网最低|绝对|万能"
    # fresh2 test (read after its one report): "100%纯棉", "100% cotton" state a composition
    r"|根治|包治|100%(?!\s*(?:纯|全|cotton|wool|silk|linen|cashmere|polyester|natural|organic"
    r"|[棉麻丝毛羊蚕桑]|[\u4e00-\u9fff]{1,3}[棉麻丝毛绒]))|百分百"
    r"|lowest price|cheapest|best in the world|number one|#1(?!\d)|no\.\s?1\b|guaranteed results"
    r"|risk[- ]free|miracle|cures?\b"
    # blind dev: more absolutes and result promises
    r"|唯一|顶尖|顶级|天花板|极品|独一无二|史无前例|立竿见影|保证.{0,8}(?:白|瘦|效果|见效)"
    r"|(?<!all )\bthe (?:very )?best\b(?! wishes| way| time| results| fit| size| regards| before)"
    r"|\bfinest\b"
    r"|unrival+ed|unbeatable|unmatched"
    r"|nothing (?:else )?(?:even )?comes close|second to none"
    # blind test: 最 with the adjectives of a ranking claim (not 最近/最多/最后/最低一档: a
    # count, a time or a setting), 史上…, 绝无仅有, and cure-like promises
    r"|最(?:好|佳|优|强|美|便宜|划算|实惠|受欢迎|火|畅销|专业|舒适|舒服|显瘦|甜|香|正宗|先进|安全|值"
    # fresh2 test: 最权威, 首选, 无敌, "world-class", "the world's quietest"
    r"|权威|靠谱|耐用|轻|薄|静音|省电|全面|齐全)|首选|无敌|world[- ]class|\bworld'?s \w+est\b"
    r"|史上|绝无仅有|guaranteed to"
    r"|reverses? \w+ (?:disease|ageing|aging)"
    # fresh test, by family: a promised result (保证 + what it will do, 见效), a medical effect,
    # and an English superlative made absolute by "ever", "the world's" or "you'll ever need"
    r"|保证(?![正金书期卡]|[，。！？,.!?\s]|$)|(?:立刻|立即|马上|即刻|立马|当天|快速)见效"
    r"|药到病除|降(?:血压|血糖|血脂|三高)|治疗|治愈|疗效|防癌|抗癌"
    r"|(?:全网|全国|全球|世界|业界|行业)(?:领先|领导|之最|冠军)|遥遥领先"
    r"|\bthe (?:best|greatest|finest|most \w+|\w+iest|fastest|strongest|smartest|lightest"
    r"|softest|warmest|quietest|sweetest|freshest)\b[^.!?\n]{0,40}"
    r"\b(?:ever|of all time|on the market|in the world|money can buy)\b"
    r"|\byou(?:'ll| will)? ever (?:need|find|buy|own|want|try|taste|wear|read|use|have)\b"
    r"|\bworld'?s (?:best|greatest|finest|first|no\.?\s?1|number one|leading|most \w+)"
    r"|\bthe greatest\b|\bbest[- ]ever\b|\b(?:lowers?|reduces?) (?:your )?(?:blood pressure"
    r"|blood sugar|cholesterol)|instant results|works instantly|\bultimate\b"
    r"|全网[^，,。！？\s]{0,4}最|(?:立即|立刻|马上|迅速|有效)(?:缓解|消除|治|止痛|止咳|退烧|改善)"
    r"|(?:缓解|改善|治|消除|预防)(?:头痛|偏头痛|失眠|疼痛|关节炎|高血压|糖尿病|湿疹|过敏|便秘|焦虑|抑郁|近视)"
    r"|\b(?:relieves?|heals?|treats?|prevents?)\s+(?:your\s+)?(?:\w+\s+)?(?:pain|headaches?|migraines?"
    r"|insomnia|anxiety|arthritis|eczema|allergies|acne|diabetes)"
    r"|\b\w+ing guaranteed\b|results? guaranteed|瘦\s*[\d一二两三四五六七八九十]+\s*(?:斤|公斤|kg)"
    r"|(?:立刻|立即|马上|当天)(?:瘦|变白|白|变美|年轻|长高|止痒)"
    r"|\bthe (?:healthiest|safest|most effective|most advanced|most powerful|most trusted)\b"
)

# Counted things after "only"/"仅" ("only 3 left", "仅剩 2 件") are not prices.
_COUNTED = (
    r"(?![\d.,]*\s*(?:left|items?|pieces?|units?|pairs?|sets?|boxes|box|bottles?|colou?rs?"
    r"|件|个|台|天|双|套|瓶|盒|支|条|份|days?|hours?|小时"
    # a measure after a price word ("才20分钟", "now 30 hours", "just 5G") is no price either
    r"|分钟|minutes?|秒|seconds?|weeks?|months?|years?|年|个?月|周|岁|斤|公斤|克|毫升|升|米|厘米"
    r"|公里|次|人|位|页|本|张|只|包|罐|箱|副|inch(?:es)?|英寸|[a-z]))"
)
# A number is money when a currency marks it, or a price word comes before it ("现价3999",
# "now 1299"); not when a percent, 折 or a count follows.
_MONEY = re.compile(
    r"(?:[¥￥$]|rmb|cny)\s*(\d+(?:,\d{3})*(?:\.\d+)?)"
    r"|(?:仅需|只要|只需|低至|到手价?|现价|原价|售价|定价|标价|折后价?|立省|省下|省了|才|只卖"
    r"|only|just|now|was|costs?|priced at|down from)\s*(\d+(?:,\d{3})*(?:\.\d+)?)"
    + _COUNTED
    + r"(?![\d.,]*\s*(?:[¥￥$%折成:：]|元|块|[-–~到至]\s*\d))"
    r"|(\d+(?:,\d{3})*(?:\.\d+)?)\s*(多|余)?\s*(?:元|块|yuan|rmb|cny)"
    rf"|({CN_NUMBER})\s*(多|余)?\s*(?:元|块)",
    re.IGNORECASE,
)
# Words before an amount that make it a bound ("不到1300元", "under ¥1,300").
_BELOW = re.compile(r"(?:不到|不足|低于|不超过|less than|under|below)\s*$", re.IGNORECASE)
# fresh2 test, after its report: a bound with no currency, "不到两千五就能拿下"
_BARE_BOUND = re.compile(
    rf"(?:不到|不足|低于|不超过)\s*((?:{CN_NUMBER})|\d+(?:\.\d+)?)"
    r"(?=\s*(?:就|即可|便|能|可以|拿下|入手|到手|买到))"
)
# fresh3 test: words before an amount that make it the threshold of a condition, not a price
# ("订单满99元包邮", "free on orders over ¥88"); a spend-and-save threshold is ``_COUPON``'s.
_THRESHOLD = re.compile(
    r"(?:满|购满|消费满|订单满|单笔满|超过)\s*$"
    r"|\b(?:orders?|spend(?:ing)?|purchases?|baskets?|carts?|buy)\s+(?:of\s+|over\s+|above\s+"
    r"|worth\s+|totall?ing\s+)(?:more than\s+|at least\s+)?$",
    re.IGNORECASE,
)
# fresh3 test: how many payments an instalment plan has ("分3期", "6 payments of", "12 months").
_PERIODS = re.compile(
    rf"(\d+|{CN_NUMBER})\s*期"
    r"|(\d+|three|six|nine|twelve|twenty-four)\s+(?:monthly\s+|equal\s+|interest-free\s+)?"
    r"(?:payments|instal(?:l)?ments|months)",
    re.IGNORECASE,
)
_PERIOD_WORDS = {"three": 3, "six": 6, "nine": 9, "twelve": 12, "twenty-four": 24}
# fresh3 test: a difference between two of the brief's prices ("相差1000元", "a ¥1,000 difference")
_DIFFERENCE = re.compile(r"differen|\bgap\b|相差|差价|差了|差\s*[¥￥\d]", re.IGNORECASE)
_PERCENT_OFF = re.compile(
    r"(\d+(?:\.\d+)?)\s*(?:%|percent|per cent)\s*(?:off|discount)"
    r"|(?:save|off|立减|减|优惠|补贴|返现|再打|再让)\s*(\d+(?:\.\d+)?)\s*(?:%|percent|per cent)"
    # blind dev: "knock off another 10%", "take an extra 15%"
    r"|(?:knock|take)s?\s+(?:off\s+)?(?:another|an extra|a further)\s+(\d+(?:\.\d+)?)\s*%"
    # fresh5 test, after its report: "plus another 5% when you pay in the app"
    r"|(?:another|an extra|a further|an additional)\s+(\d+(?:\.\d+)?)\s*%",
    re.IGNORECASE,
)
# blind dev: the share of the price paid ("70% of the usual price") and fractions off.
_SHARE_PAID = re.compile(
    r"(\d+(?:\.\d+)?)\s*%\s*of\s+(?:the\s+|its\s+)?(?:usual|regular|original|normal|full|list"
    r"|retail|marked|shelf|sticker)\s+price"
    # fresh test: "pay only 20%", "原价的80%"
    r"|\bpay(?:s|ing)?\s+(?:only\s+|just\s+)?(\d+(?:\.\d+)?)\s*%|原价的\s*(\d+(?:\.\d+)?)\s*%",
    re.IGNORECASE,
)
_FRACTION_OFF = re.compile(
    r"\b(?:a|one)[- ](half|third|quarter|fifth|tenth)\s+off\b", re.IGNORECASE
)
_FRACTIONS = {"half": 50.0, "third": 100 / 3, "quarter": 25.0, "fifth": 20.0, "tenth": 10.0}
# "8折" and "8.5折" are tenths of the price, "85折" hundredths (15 % off).
_ZHE = re.compile(r"(?<![\d.])(\d{1,2}(?:\.\d)?)\s*折")
_ZHE_CN = re.compile(
    r"(?<![零一二两三四五六七八九十])([一二三四五六七八九][一二三四五六七八九]?)\s*折"
)
# "立减两成", "省三成": tenths off.
_TENTHS_OFF = re.compile(r"(?:减|省|优惠|便宜|降|让利|少)\s*([一二两三四五六七八九\d])\s*成")
# A percent the patterns above do not place is a discount when an offer word shares its clause
# ("an extra 5% at checkout", "会员再享5%"); otherwise it measures something (a fabric, a charge).
_ANY_PERCENT = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(?:%|percent\b|per cent\b)", re.IGNORECASE)
_OFFER_WORDS = re.compile(
    r"\b(?:off|discount\w*|sav(?:e|es|ing)|extra|further|additional|more|checkout|coupon|members?"
    r"|deal|offer|price|cheaper|less|reduc\w+|cut|knock\w*)\b|减|折|优惠|省|便宜|再享|额外|降|返|让利|会员|价",
    re.IGNORECASE,
)
# A comma is a thousands separator only between a figure and three more ("¥3,999"); NFKC has
# made "，" a ",", so "419.3元,90%" has two clauses.
_CLAUSE_MARK = re.compile(r"[，。！？!?；;\n]|(?<!\d),|,(?!\d{3}(?!\d))")
# Offers a brief cannot hold: spend-and-save thresholds, coupons, vouchers.
_COUPON = re.compile(
    # fresh3 test: "满199再减30", the saving after a word
    r"满\s*\d+\s*元?\s*(?:再|还|可|立|即|就|还能|可以)?\s*[减省送]\s*\d+|优惠券|代金券|满减|红包|\bcoupons?\b|\bvouchers?\b"
    r"|promo(?:tion(?:al)?)? code|discount code|\b(?:use|with|enter) (?:the )?code\b",
    re.IGNORECASE,
)
_RUN_KEPT = 24
_LONG_RUN = re.compile(
    rf"[\d,.]{{{_RUN_KEPT + 1},}}|[零〇一二两三四五六七八九十百千万点]{{{_RUN_KEPT + 1},}}"
)
_HALF = re.compile(r"半价|half[- ]price", re.IGNORECASE)


@dataclass(frozen=True)
class Product:
    """What the checker knows of a catalogue item."""

    id: str
    name_zh: str
    name_en: str
    price: float


@dataclass(frozen=True)
class CopyBrief:
    """What a campaign's copy may say: its products, offers and allowed claims."""

    products: tuple[str, ...]
    discounts: tuple[float, ...] = ()  # percent off the brief offers (20.0: "20% off", "8折")
    prices: tuple[float, ...] = ()  # other prices the brief states (a bundle price)
    claims: tuple[str, ...] = ()  # keys of ``CLAIMS`` the brief allows
    channel: str = "sms"

    def __post_init__(self) -> None:
        unknown = [c for c in self.claims if c not in CLAIMS]
        if unknown:
            raise InvalidMarketingRequest(
                f"unknown claims {unknown}; allowed claims are {', '.join(CLAIMS)}"
            )
        if self.channel not in LENGTH_LIMITS:
            raise InvalidMarketingRequest(
                f"channel must be one of {', '.join(LENGTH_LIMITS)}, not {self.channel!r}"
            )
        if any(not 0 < d < 100 for d in self.discounts):
            raise InvalidMarketingRequest("discounts are percentages between 0 and 100")


@dataclass(frozen=True)
class Problem:
    """Why a variant is rejected, with the words at fault."""

    kind: ProblemKind
    detail: str


@dataclass
class CopyChecker:
    """Checks variants against the catalogue and a brief."""

    catalogue: dict[str, Product]
    banned: str = BANNED
    _banned: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._banned = re.compile(self.banned, re.IGNORECASE)

    def check(self, text: str, brief: CopyBrief, language: Language) -> list[Problem]:
        """Every problem of ``text`` (empty: the variant may go to a human for approval)."""
        missing = [p for p in brief.products if p not in self.catalogue]
        if missing:
            raise InvalidMarketingRequest(f"products not in the catalogue: {', '.join(missing)}")
        folded = unicodedata.normalize("NFKC", text)
        problems: list[Problem] = []
        limit = LENGTH_LIMITS[brief.channel][language]
        length = len(folded.replace(PICKS, "x" * PICKS_RESERVE[language]))
        if length > limit:
            picks = f" (counting {PICKS} as {PICKS_RESERVE[language]})" if PICKS in folded else ""
            problems.append(
                Problem("length", f"{length} characters{picks}; {brief.channel} allows {limit}")
            )
        # Runs of figures longer than any amount are cut before the amount patterns read them:
        # many of those patterns backtrack over a run, so a pasted 4,000-digit run took seconds.
        folded = _LONG_RUN.sub(lambda m: m.group(0)[:_RUN_KEPT], folded)
        problems += self._banned_words(folded)
        problems += self._claims(folded, brief)
        problems += self._discounts(folded, brief)
        problems += self._prices(folded, brief)
        return problems

    def _banned_words(self, text: str) -> list[Problem]:
        found = sorted({m.group(0) for m in self._banned.finditer(text)})
        return [Problem("banned", f"banned word {w!r}") for w in found]

    @staticmethod
    def _claims(text: str, brief: CopyBrief) -> list[Problem]:
        stated = stated_claims(text)
        for key, pattern in CLAIMS.items():
            words = first_affirmed(re.compile(pattern, re.IGNORECASE), text)
            if words:
                stated[key] = words
        return [
            Problem("claim", f"claim {key!r} ({stated[key]!r}) is not in the brief")
            for key in CLAIMS
            if key in stated and key not in brief.claims
        ]

    @staticmethod
    def _discounts(text: str, brief: CopyBrief) -> list[Problem]:
        stated: list[tuple[float, str]] = []
        for m in _PERCENT_OFF.finditer(text):
            stated.append((float(next(g for g in m.groups() if g)), m.group(0)))
        for m in _SHARE_PAID.finditer(text):
            stated.append(
                (round(100 - float(m.group(1) or m.group(2) or m.group(3)), 6), m.group(0))
            )
        for m in _FRACTION_OFF.finditer(text):
            stated.append((_FRACTIONS[m.group(1).lower()], m.group(0)))
        for m in _ZHE.finditer(text):
            tenths = float(m.group(1))
            paid = tenths if "." not in m.group(1) and tenths >= 10 else 10 * tenths
            stated.append((round(100 - paid, 6), m.group(0)))
        for m in _ZHE_CN.finditer(text):
            tenths = cn_to_number(m.group(1)) or 0.0
            paid = tenths if len(m.group(1)) == 2 else 10 * tenths
            stated.append((round(100 - paid, 6), m.group(0)))
        for m in _TENTHS_OFF.finditer(text):
            stated.append((10 * (cn_to_number(m.group(1)) or float(m.group(1))), m.group(0)))
        stated += [(50.0, m.group(0)) for m in _HALF.finditer(text)]
        stated += [(50.0, m.group(0)) for m in re.finditer("对折", text)]
        stated += _loose_percents(text, brief)
        problems = [
            Problem(
                "discount",
                f"discount {m.group(0)!r} (a coupon or spend-and-save offer) is not in the brief",
            )
            for m in _COUPON.finditer(text)
        ]
        return problems + [
            Problem("discount", f"discount {words!r} ({off:g}% off) is not in the brief")
            for off, words in stated
            if not any(abs(off - allowed) < 0.01 for allowed in brief.discounts)
        ]

    def _prices(self, text: str, brief: CopyBrief) -> list[Problem]:
        base = self.allowed_prices(brief)
        allowed = base | _instalments(text, base)
        differences = sorted({round(abs(a - b), 2) for a in base for b in base if a != b})
        problems = []
        for m in _MONEY.finditer(text):
            value = _money_value(m)
            if value is None:
                continue
            before = text[max(0, m.start() - 24) : m.start()]
            if _THRESHOLD.search(before):
                continue
            if _DIFFERENCE.search(_clause_around(text, m.start(), m.end())) and any(
                abs(d - value) < 0.01 for d in differences
            ):
                continue
            if _BELOW.search(before[-12:]):
                # a true bound close to the price: "不到1300元" for ¥1299
                ok = any(0.9 * value <= price < value for price in allowed)
            elif m.group(4) or m.group(6):
                # "300多元": from 300 up to the next step of its last figure
                step = _place(value)
                ok = any(value <= price < value + step for price in allowed)
            else:
                ok = any(abs(value - price) < 0.01 for price in allowed)
            if not ok:
                problems.append(
                    Problem(
                        "price", f"price {m.group(0).strip()!r} is not in the catalogue or brief"
                    )
                )
        for m in _BARE_BOUND.finditer(text):
            bound = _number(m.group(1))
            if bound is not None and not any(0.9 * bound <= price < bound for price in allowed):
                problems.append(Problem("price", f"price {m.group(0)!r} is not true of the brief"))
        return problems

    def allowed_prices(self, brief: CopyBrief) -> set[float]:
        """Catalogue prices of the brief's products, the brief's prices, the discounted prices
        and the amounts saved."""
        allowed = set(brief.prices)
        for product_id in brief.products:
            price = self.catalogue[product_id].price
            allowed.add(price)
            for off in brief.discounts:
                allowed.add(round(price * (1 - off / 100), 2))
                allowed.add(round(price * off / 100, 2))
        return allowed


def _instalments(text: str, allowed: set[float]) -> set[float]:
    """Each allowed price split into the number of payments the text names, to the cent."""
    counts = set()
    for m in _PERIODS.finditer(text):
        word = m.group(1) or m.group(2)
        count = _PERIOD_WORDS.get(word.lower()) or _number(word)
        if count is not None and 2 <= count <= 60:
            counts.add(count)
    return {
        float((Decimal(str(price)) / int(n)).quantize(Decimal("0.01"), ROUND_HALF_UP))
        for price in allowed
        for n in counts
    }


def _number(word: str) -> float | None:
    """Digits or a Chinese numeral as a number; None when it is neither ("零" is 0)."""
    try:
        return float(word)
    except ValueError:
        return cn_to_number(word)


def _money_value(m: re.Match[str]) -> float | None:
    if m.group(5):
        return cn_to_number(m.group(5))
    return float((m.group(1) or m.group(2) or m.group(3)).replace(",", ""))


def _place(value: float) -> float:
    """The place of the last non-zero figure of a whole amount: 300 -> 100, 1290 -> 10."""
    place = 1.0
    whole = int(value)
    while whole and whole % 10 == 0:
        whole //= 10
        place *= 10
    return place


def _clause_around(text: str, start: int, end: int) -> str:
    """The words of ``text`` around ``start:end`` up to the nearest commas or sentence marks."""
    starts, ends = _clause_marks(text)
    before = bisect_right(ends, start)
    after = bisect_left(starts, end)
    return text[
        ends[before - 1] if before else 0 : starts[after] if after < len(starts) else len(text)
    ]


@lru_cache(maxsize=256)
def _offers(clause: str) -> bool:
    """Whether an offer word is in ``clause`` (a clause with many percents is read once)."""
    return _OFFER_WORDS.search(clause) is not None


@lru_cache(maxsize=8)
def _clause_marks(text: str) -> tuple[list[int], list[int]]:
    """Where the clause marks of ``text`` start and end, found once per text (a text with
    thousands of amounts asks for thousands of clauses)."""
    marks = list(_CLAUSE_MARK.finditer(text))
    return [m.start() for m in marks], [m.end() for m in marks]


def _loose_percents(text: str, brief: CopyBrief) -> list[tuple[float, str]]:
    """Percents no discount pattern placed: each must be an offered percent off or the share
    paid after one; a fabric, a rate or a charge is no discount."""
    placed = [m.span() for pattern in (_PERCENT_OFF, _SHARE_PAID) for m in pattern.finditer(text)]
    stated = []
    for m in _ANY_PERCENT.finditer(text):
        value = float(m.group(1))
        if (
            value >= 100
            or any(start <= m.start() < end for start, end in placed)
            or not _offers(_clause_around(text, m.start(), m.end()))
        ):
            continue
        if not any(abs(value - d) < 0.01 or abs(100 - value - d) < 0.01 for d in brief.discounts):
            stated.append((value, m.group(0)))
    return stated


# ---- templates: the fallback when no LLM is configured ----------------------------------------

_TEMPLATES: dict[str, list[str]] = {
    "zh": [
        "{name} 现价 ¥{price:g}，{offer}点击查看详情。回复退订不再接收。",
        "您关注的{name}，{offer}到手价 {final:g} 元。回复退订不再接收。",
        "为您推荐{name}（¥{price:g}）。{offer}回复退订不再接收。",
    ],
    "en": [
        "{name} is ¥{price:g}. {offer}Tap to see it. Reply STOP to opt out.",
        "Still thinking about the {name}? {offer}Now ¥{final:g}. Reply STOP to opt out.",
        "Picked for you: {name} (¥{price:g}). {offer}Reply STOP to opt out.",
    ],
}
_OFFERS = {
    "zh": "限时{zhe:g}折，",
    "en": "{off:g}% off for a limited time. ",
}


def template_variants(checker: CopyChecker, brief: CopyBrief, language: Language) -> list[str]:
    """Variants from fixed templates with the brief's first product and offer; each passes the
    checker (a template that would not is left out)."""
    product = checker.catalogue[brief.products[0]]
    off = brief.discounts[0] if brief.discounts else 0.0
    has_offer = off > 0 and "limited_time" in brief.claims
    offer = _OFFERS[language].format(zhe=(100 - off) / 10, off=off) if has_offer else ""
    name = product.name_zh if language == "zh" else product.name_en
    final = round(product.price * (1 - off / 100), 2) if has_offer else product.price
    variants = [
        template.format(name=name, price=product.price, offer=offer, final=final)
        for template in _TEMPLATES[language]
    ]
    return [v for v in variants if not checker.check(v, brief, language)]


# ---- evaluation on the shipped synthetic set ------------------------------------------------

COPY_EVAL_DIR = Path(__file__).resolve().parent / "copy_eval"


@dataclass(frozen=True)
class CheckerScore:
    """How the checker did on a labelled split."""

    variants: int
    with_errors: int
    caught: int  # variants with a planted error that the checker rejected
    clean: int
    false_rejections: int  # clean variants the checker rejected
    missed: list[str]  # ids of the planted errors it let through
    wrongly_rejected: list[str]
    # rows whose brief the platform refuses (a claim key it does not have): no campaign could
    # carry them, so they are not scored (fresh2_test had 21 before its keys were added)
    unscorable: list[str] = field(default_factory=list)

    @property
    def catch_rate(self) -> float:
        return self.caught / self.with_errors if self.with_errors else 1.0

    @property
    def false_rejection_rate(self) -> float:
        return self.false_rejections / self.clean if self.clean else 0.0


# The shipped splits: ``dev``/``test`` generated from the checker author's frames (README.md),
# ``blind_dev``/``blind_test`` written by hand by someone who had not read the checker
# (BLIND.md; blind_test was reported once, then tuned on), ``fresh_test`` by someone who had read
# neither the checker nor those sets (FRESH.md; reported once, then tuned on), ``fresh2_test``
# (FRESH2.md) by a fourth writer after the concept families (reported once, then read): all are
# dev data now; a new set, scored once, is needed for the next honest figure.
COPY_EVAL_SPLITS = (
    "dev",
    "test",
    "blind_dev",
    "blind_test",
    "fresh_test",
    "fresh2_test",
    "fresh3_test",
    "fresh4_test",
    "fresh5_test",
)


def score_checker(checker: CopyChecker, split: str) -> CheckerScore:
    """The checker on ``copy_eval/<split>.jsonl`` (a dev split to tune, a test one to report)."""
    if split not in COPY_EVAL_SPLITS:
        raise InvalidMarketingRequest(f"split must be one of {', '.join(COPY_EVAL_SPLITS)}")
    rows = [
        json.loads(line)
        for line in (COPY_EVAL_DIR / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    caught, missed, wrongly, unscorable = 0, [], [], []
    scored = []
    for row in rows:
        try:
            brief = CopyBrief(
                products=tuple(row["brief"]["products"]),
                discounts=tuple(row["brief"]["discounts"]),
                claims=tuple(row["brief"]["claims"]),
                channel=row["brief"]["channel"],
            )
        except InvalidMarketingRequest:
            unscorable.append(row["id"])
            continue
        scored.append(row)
        rejected = bool(checker.check(row["text"], brief, row["language"]))
        if row["errors"]:
            caught += rejected
            if not rejected:
                missed.append(row["id"])
        elif rejected:
            wrongly.append(row["id"])
    with_errors = sum(1 for r in scored if r["errors"])
    return CheckerScore(
        len(scored),
        with_errors,
        caught,
        len(scored) - with_errors,
        len(wrongly),
        missed,
        wrongly,
        unscorable,
    )
