"""Reading what customers type: order ids, phone endings, budgets, return reasons."""

from __future__ import annotations

import re
import unicodedata

from bot.orders._errors import InvalidOrderId
from bot.orders._models import Budget, ReturnKind

_ORDER_ID = re.compile(r"^(?:YX)?(\d{10})$")
# No amount a customer names has more digits (a longer run is a code, not money).
_MAX_AMOUNT_DIGITS = 12


def ascii_digits(text: str) -> str:
    """``text`` with every decimal digit as an ASCII one and full-width forms folded (NFKC):
    Chinese input methods type "２６１１" as often as "2611"."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in folded)


_ORDER_ID_NOISE = re.compile(r"[\s\-_#:：]")
# The one pattern of an order id inside free text ("订单yx 2611 010 001到哪了"). Rasa's regex
# entity (nlu_data/train/entities.yml) mirrors it: Rasa cannot import this module; a test keeps
# the two in step. channels/media/_facts.py has its own for OCR text, being a library layer.
ORDER_ID_PATTERN = r"(?<![0-9a-z])(?:yx[\s-]?)?2\d(?:[\s-]?\d){8}(?![0-9])"
_ORDER_ID_IN_TEXT = re.compile(ORDER_ID_PATTERN, re.IGNORECASE)
# "wait, wrong order", "订单号不对", "不是这个订单": the customer means another order.
_WRONG_ORDER = re.compile(
    r"wrong order|not (?:this|that|the right) order|another order|different order|other order|"
    r"wrong (?:order )?(?:number|id)|订单号?(?:错了|不对|写错|输错|搞错)|"
    r"(?:不是|换)(?:这|那|一)?个?订单|(?:错|别)的订单|另一个订单",
    re.IGNORECASE,
)


def normalize_order_id(text: str) -> str:
    """ "yx 2611 010 001", "2611010001" and "YX2611010001" all become "YX2611010001"."""
    compact = _ORDER_ID_NOISE.sub("", ascii_digits(text)).upper()
    if compact.startswith("NO."):
        compact = compact[3:]
    match = _ORDER_ID.match(compact)
    if match is None:
        raise InvalidOrderId(
            f"{text.strip()[:40]!r} is not an order id: expected YX and 10 digits, "
            "e.g. YX2611010001"
        )
    return f"YX{match.group(1)}"


# A message is an answer to "the last four digits of the phone" when digits are its point: a run
# of 4 digits or a whole mobile number, few other characters, and no amount of money (a budget
# such as "2000以内" is a new request, not a wrong answer).
_PHONE_RUN = re.compile(r"(?<!\d)(?:\d{4}|1[3-9]\d{9}|1[3-9]\d[\s-]?\d{4}[\s-]?\d{4})(?!\d)")
_MONEY = re.compile(
    r"[元块¥￥$]|以内|以下|以上|左右|预算|budget|under|below|yuan|dollars?|bucks|rmb", re.IGNORECASE
)
_PHONE_ANSWER_OTHER_CHARS = 24


def phone_answer_from(text: str) -> str | None:
    """The last four digits when ``text`` is an attempt at the phone check, else None.

    "8001", "尾号是8001", "it ends with 8001" and "138 0013 8001" are attempts; "预算2000以内",
    "YX2611010005" and "算了，帮我推荐个耳机" are not (they are new messages).
    """
    text = ascii_digits(text)
    if _MONEY.search(text) or _ORDER_ID_IN_TEXT.search(text):
        return None
    runs = _PHONE_RUN.findall(text)
    if not runs:
        return None
    others = re.sub(r"[\d\s\W_]", "", _PHONE_RUN.sub("", text))
    if len(others) > _PHONE_ANSWER_OTHER_CHARS:
        return None
    return re.sub(r"\D", "", runs[-1])[-4:]


def order_ids_in(text: str) -> list[str]:
    """Every order id in free text, normalized, in order of appearance."""
    return [normalize_order_id(m.group(0)) for m in _ORDER_ID_IN_TEXT.finditer(text)]


def names_wrong_order(text: str) -> bool:
    """Whether the customer says the order being handled is the wrong one."""
    return _WRONG_ORDER.search(text) is not None


# "change my address to 上海市…", "地址改成北京市…": the new address given with the request.
_ADDRESS_GIVEN = re.compile(
    r"(?:(?:修改|更改|改|换)(?:收货|配送|送货)?地址(?:到|为|成|是|[:：])|改成|改为|改到|换成|换到|"
    r"寄到|送到|新地址(?:是|为)?|地址(?:是|为)|\bto\b)\s*[:：]?\s*(.+)$",
    re.IGNORECASE,
)
_ADDRESS_PART = re.compile(
    r"省|市|区|县|镇|路|街|道|巷|弄|号|栋|室|\d|road|street|\bst\b|ave|district"
)
# "换一个地址", "地址写错了", "use another address": the customer wants to give a new address.
_OTHER_ADDRESS = re.compile(
    r"换一?个地址|换地址|地址(?:不对|错了|写错|有误)|另一个地址|重新(?:填|写|输入)地址|"
    r"(?:another|other|different|new|wrong) address|change the address again",
    re.IGNORECASE,
)


def address_given(text: str) -> str | None:
    """The new delivery address stated in a request to change it, if the request has one."""
    match = _ADDRESS_GIVEN.search(_ORDER_ID_IN_TEXT.sub(" ", text))
    if match is None:
        return None
    address = match.group(1).strip(" 。.!！")
    return address if len(address) >= 6 and _ADDRESS_PART.search(address) else None


def asks_other_address(text: str) -> bool:
    """Whether the customer wants to give a different address than the one being confirmed."""
    return _OTHER_ADDRESS.search(text) is not None


def phone_last4_from(text: str) -> str | None:
    """The last four digits a customer gave ("尾号8001", "13800138001", "it's 8001"), if any."""
    runs = [run for run in re.findall(r"\d+", ascii_digits(text)) if len(run) >= 4]
    return runs[-1][-4:] if runs else None


# Words that make a return a quality return (free shipping, 15-day window); any other reason
# is a no-reason return.
_QUALITY_WORDS = re.compile(
    r"质量|坏了|坏的|损坏|破损|破了|碎了|故障|瑕疵|不能用|用不了|不工作|开不了机|开不机|"
    r"无法开机|有问题|漏水|漏液|裂|假货|发错|错发|少发|漏发|缺件|少件|过期|变质|发霉|划痕|"
    r"broken|defect|damaged|faulty|not working|doesn'?t work|does not work|stopped working|"
    r"won'?t turn on|cracked|wrong item|missing|leak|fake|counterfeit|expired|scratch|"
    r"spoiled|rotten|quality",
    re.IGNORECASE,
)


def classify_return_reason(text: str) -> ReturnKind:
    """ "quality" when the reason names a defect, damage or a wrong delivery; else "no_reason"."""
    return "quality" if _QUALITY_WORDS.search(text) else "no_reason"


# Answers to "why return it?" that NLU reads as a sure `stop` ("no longer need it" 0.75,
# "don't need it anymore" 0.72): they say why, not that the return should stop.
_WHY_WORDS = re.compile(
    r"no longer (?:need|want|use)|(?:don'?t|do not) (?:need|want|like|use) (?:it|them|this)|"
    r"not needed any ?more|changed? (?:my|our) minds?|(?:doesn'?t|does not|don'?t) fit|"
    r"too (?:big|small|large|tight|loose)|wrong size|bought (?:it )?by mistake|"
    r"ordered (?:it )?by mistake|found (?:it )?cheaper|"
    r"用不上|用不着|不需要(?:了|这个)|不想要|不要了|不喜欢|不合适|不合身|尺码|买错|买多了|重复购买|"
    r"买重了|太大|太小",
    re.IGNORECASE,
)
# Words that stop the return itself ("don't need the return", "不用退了", "never mind").
_STOP_WORDS = re.compile(
    r"return|refund|cancel|never ?mind|forget (?:it|about it)|stop|"
    r"退|取消|算了|不用了|别",
    re.IGNORECASE,
)


def gives_return_reason(text: str) -> bool:
    """Whether ``text``, said in answer to "why return it?", is a reason ("no longer need it",
    "不想要了", "尺码太小") rather than a stop of the return ("never mind", "不用退了")."""
    return _WHY_WORDS.search(text) is not None and _STOP_WORDS.search(text) is None


# Budgets: "两千以内", "1000-2000元", "under $300", "around 500", "3k以上".
_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7}
_CN_DIGITS.update({"八": 8, "九": 9})
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)\s*([kKwW千万])?|([零一二两三四五六七八九十百千万]+)")
_RANGE = re.compile(
    r"\d\s*[kKwW千万]?\s*(?:-|~|～|—|到|至|to)\s*\$?¥?\s*\d|[零一二两三四五六七八九十百千万](?:到|至)"
)
_BETWEEN = re.compile(r"between|之间", re.IGNORECASE)
_AT_MOST = re.compile(
    r"以内|以下|之内|内|不超过|不到|最多|封顶|under|below|less than|within|up to|at most|"
    r"max|no more than|cheaper than|<",
    re.IGNORECASE,
)
_AT_LEAST = re.compile(r"以上|起|至少|最少|over|above|more than|at least|from|>", re.IGNORECASE)
_AROUND = re.compile(r"左右|上下|大概|大约|差不多|around|about|approximately|roughly|~", re.I)
_DOLLAR = re.compile(r"\$|dollars?|usd|bucks", re.IGNORECASE)
# Dollar budgets are converted at a fixed demo rate; the catalogue is priced in yuan.
YUAN_PER_DOLLAR = 7


def _chinese_number(text: str) -> int:
    total, section, number, last_unit = 0, 0, 0, 0
    for char in text:
        if char in _CN_DIGITS:
            number = _CN_DIGITS[char]
        elif char in _CN_UNITS:
            last_unit = _CN_UNITS[char]
            section += (number or 1) * last_unit
            number = 0
        elif char == "万":
            total += (section + number) * 10000
            section, number, last_unit = 0, 0, 10000
    # "一千五" means 1500: a digit after a unit counts one unit lower.
    if number and last_unit >= 100:
        number *= last_unit // 10
    return total + section + number


def _amounts(text: str) -> list[int]:
    amounts = []
    for digits, suffix, chinese in _NUMBER.findall(text):
        if chinese:
            value = _chinese_number(chinese)
        elif len(digits.split(".")[0]) > _MAX_AMOUNT_DIGITS:
            continue
        else:
            scale = {"k": 1000, "K": 1000, "千": 1000, "w": 10000, "W": 10000, "万": 10000}
            value = round(float(digits) * scale.get(suffix, 1))
        if value > 0:
            amounts.append(value)
    return amounts


def parse_budget(text: str) -> Budget | None:
    """The price range a customer means, in yuan; None when the text names no amount."""
    text = ascii_digits(text)
    amounts = _amounts(text)
    if not amounts:
        return None
    rate = YUAN_PER_DOLLAR if _DOLLAR.search(text) else 1
    amounts = [amount * rate for amount in amounts]
    if len(amounts) >= 2 and (_RANGE.search(text) or _BETWEEN.search(text)):
        low, high = sorted(amounts[:2])
        return Budget(low, high)
    amount = amounts[0]
    if _AROUND.search(text):
        return Budget(round(amount * 0.8), round(amount * 1.2))
    if _AT_LEAST.search(text):
        return Budget(amount, None)
    # A bare amount ("500块", "$300", "不超过两千") is the most the customer wants to spend.
    return Budget(None, amount)
