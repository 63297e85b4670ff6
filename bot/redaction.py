"""Personal data found in free text and replaced by placeholders: phone numbers, e-mails, Chinese
ID numbers, bank cards and postal addresses, in Chinese and English text.

Checksums come from python-stdnum (GB 11643 for ID numbers, Luhn for cards), so a long order or
tracking number is not taken for an ID or a card. Phone numbers are matched by pattern rather than
with ``phonenumbers``: a log line must lose anything phone-shaped, also numbers that no carrier has
issued yet and that a validating matcher would let through.

A module of its own beside ``bot.language``, with no import of the platform: Rasa's Python 3.10
environment masks what its intent LLM is shown with it too (``bot.rasa_components.intent_llm``).
The privacy module re-exports it.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from stdnum import luhn
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

logger = logging.getLogger(__name__)

KINDS = ("email", "id_number", "bank_card", "phone", "address")
PLACEHOLDERS = {
    "email": "[email]",
    "id_number": "[id-number]",
    "bank_card": "[bank-card]",
    "phone": "[phone]",
    "address": "[address]",
}

# Neither a letter nor a digit may touch a number, so "YX2611010001" stays an order id.
_START = r"(?<![0-9A-Za-z])"
_END = r"(?![0-9A-Za-z])"
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_ID_18 = re.compile(_START + r"\d{17}[\dXx]" + _END)
_ID_15 = re.compile(_START + r"\d{15}" + _END)
_CARD = re.compile(_START + r"(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,3})?)" + _END)
_PHONE = re.compile(
    _START
    + r"(?:"
    # Chinese mobile: 138 1234 5678, 138-1234-5678, +86 13812345678, 0086-138…
    + r"(?:(?:\+|00)\s?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}"
    # Chinese landline with its area code: 010-12345678, (0755) 8888 8888, 021 6123 4567
    + r"|(?:\(0\d{2,3}\)|0\d{2,3})[\s-]?\d{3,4}[\s-]?\d{4}"
    # International in E.164 style: +44 20 7946 0958, +1 (415) 555-2671
    + r"|\+\d{1,3}(?:[\s-]?\(?\d{1,4}\)?){2,5}"
    + r")"
    + _END
)
# Province-level names are listed, so the words before them ("送到广东省") stay; a chain that
# starts at a city may take up to two characters before it into the redaction.
_PROVINCE = (
    r"(?:(?:北京|天津|上海|重庆|河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|"
    r"湖南|广东|海南|四川|贵州|云南|陕西|甘肃|青海|台湾|内蒙古|广西|西藏|宁夏|新疆|香港|澳门)"
    r"(?:省|市|壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区)?)"
)
_ZH_ADDRESS = re.compile(
    _PROVINCE + r"?(?:[\u4e00-\u9fff]{2,4}?(?:市|区|县|镇|乡|街道))*"
    r"[\u4e00-\u9fff0-9]{1,12}?(?:路|街|大道|大街|巷|弄|胡同|道)"
    r"\d+(?:-\d+)?号"
    r"(?:[\u4e00-\u9fff]{0,8}?\d+(?:-\d+)?(?:号楼|栋|幢|楼|单元|层|室|号))*"
    r"|" + _PROVINCE + r"?(?:[\u4e00-\u9fff]{2,4}?(?:市|区|县))+[\u4e00-\u9fff]{1,10}?"
    r"(?:小区|花园|公寓|大厦|村)"
    r"(?:\d+(?:-\d+)?(?:号楼|栋|幢|楼|单元|层|室|号))*"
)
_EN_ADDRESS = re.compile(
    r"\b\d{1,5}[A-Za-z]?\s+(?:[A-Z][A-Za-z'-]+\s+){1,4}"
    r"(?:Street|St|Road|Rd|Avenue|Ave|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|"
    r"Terrace|Crescent|Close|Square|Sq|Highway|Hwy)\b\.?"
    r"(?:,?\s*(?:Apt|Apartment|Suite|Unit|Flat|#)\.?\s*[0-9A-Za-z-]+)?"
)


_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９＋", "0123456789+")


@dataclass(frozen=True)
class Redaction:
    """A text with its personal data replaced, and the kinds of personal data that were found."""

    text: str
    kinds: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> Redaction:
        """Redact ``text``: e-mails, ID numbers, bank cards, phones, then addresses."""
        found: set[str] = set()
        # Chinese input methods type full-width digits; the patterns read them as ASCII ones.
        text = text.translate(_FULL_WIDTH_DIGITS)
        for kind, pattern, valid in _RULES:
            text = pattern.sub(_replacer(kind, valid, found), text)
        return cls(text, tuple(k for k in KINDS if k in found))


def redact(text: str) -> str:
    """``text`` with phone numbers, e-mails, ID numbers, bank cards and addresses replaced."""
    return Redaction.of(text).text


# A number that names an order, a ticket, a parcel or an account, as customers type it: six
# digits or more, grouped or not by single spaces or dashes ("YX 2611 010001", "T-20261202-0001").
_IDENTIFIER = re.compile(r"\d(?:[\s-]?\d){5,}")


def names_a_person(text: str) -> bool:
    """Whether ``text`` holds what the redaction replaces (phone, e-mail, ID, card, address) or
    a number of six digits or more (order, ticket, parcel, account): a text that must not be
    kept beyond its use, in a cache for one, because it points at someone."""
    folded = unicodedata.normalize("NFKC", text)
    return _IDENTIFIER.search(folded) is not None or bool(Redaction.of(text).kinds)


def _replacer(
    kind: str, valid: Callable[[str], bool], found: set[str]
) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        if not valid(match.group()):
            return match.group()
        found.add(kind)
        return PLACEHOLDERS[kind]

    return replace


def _any(_text: str) -> bool:
    return True


def _ascii_digits(text: str) -> str:
    """Digits only, as ASCII: full-width "１３８" typed by Chinese input methods counts too."""
    return "".join(str(unicodedata.digit(c)) if c.isdigit() else c for c in text if c.isalnum())


def _valid_id(text: str) -> bool:
    """GB 11643 checksum and a real birth date. The area code is not looked up: areas are recoded
    over the years, and a redactor errs towards redacting."""
    number = _ascii_digits(text).upper()
    try:
        ric.get_birth_date(number)
    except ValidationError:
        return False
    return number[-1] == ric.calc_check_digit(number)


def _valid_card(text: str) -> bool:
    digits = _ascii_digits(text)
    return 13 <= len(digits) <= 19 and luhn.is_valid(digits)


def _valid_old_id(text: str) -> bool:
    """A 15-digit ID number of before 1999: area code, then a birth date as YYMMDD."""
    text = _ascii_digits(text)
    try:
        date(1900 + int(text[6:8]), int(text[8:10]), int(text[10:12]))
    except ValueError:
        return False
    return text[:2] in _PROVINCES


def _valid_phone(text: str) -> bool:
    return 7 <= sum(c.isdigit() for c in text) <= 15


# The first two digits of a Chinese ID number: the province (GB/T 2260).
_PROVINCES = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
    ]
)

_RULES: tuple[tuple[str, re.Pattern[str], Callable[[str], bool]], ...] = (
    ("email", _EMAIL, _any),
    ("id_number", _ID_18, _valid_id),
    ("bank_card", _CARD, _valid_card),
    ("id_number", _ID_15, _valid_old_id),
    ("phone", _PHONE, _valid_phone),
    ("address", _ZH_ADDRESS, _any),
    ("address", _EN_ADDRESS, _any),
)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts personal data from each record's message, arguments and
    traceback. Install it on the handlers: a filter on a logger does not see the records its
    children propagate."""

    def filter(self, record: logging.LogRecord) -> bool:
        broken = False
        try:
            message = record.getMessage()
        except (TypeError, ValueError) as exc:
            # A record whose arguments do not fit its format: keep the format, drop the arguments.
            message = f"{record.msg} (arguments dropped: {type(exc).__name__})"
            broken = True
        redacted = redact(message)
        # The arguments stay for other handlers when nothing in them is personal.
        if broken or redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when it is set: an exception's message may quote a customer.
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FORMATTER = logging.Formatter()
