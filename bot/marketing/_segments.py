"""Segments: a small, safe expression language over customer profiles.

    language == "zh" and monetary >= 500 and not "vip" in tags
    (affinity.phone > 0.3 or days_since_contact < 7) and channel in ["rest", "webchat"]

Hand-written recursive descent rather than ``eval`` (never: the text comes from the console) or a
parser generator such as lark: the grammar is six rules, and the part worth code is the type
check with messages that point at the column ("column 14: 'monetary' is a number, it cannot be
compared with the text 'high'"), which a generated parse tree would still leave to us. The
parser builds a closed tree of frozen dataclasses; evaluation only reads profile fields by name
from a fixed table, so no text can reach attributes, calls or imports.

Grammar (keywords case-insensitive):
    expr    := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | "(" expr ")" | compare
    compare := operand (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in") operand)?
    operand := NUMBER | STRING | FIELD | "[" (literal ("," literal)*)? "]" | "true" | "false"
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from bot.marketing._errors import InvalidSegment

MAX_EXPRESSION_CHARS = 2000
MAX_DEPTH = 32

Kind = Literal["number", "text", "bool", "text_set"]
Value = float | str | bool | frozenset[str]


@dataclass(frozen=True)
class CustomerProfile:
    """What a segment can see of a customer (plain data, built by ``ProfileSource``)."""

    customer_id: str
    channel: str
    language: str = ""
    timezone: str = ""
    tags: frozenset[str] = frozenset()
    recency_days: float | None = None  # days since the last purchase (None: never bought)
    frequency: int = 0  # purchases
    monetary: float = 0.0  # revenue from the customer
    churn_risk: float = 0.0  # 0..1
    days_since_contact: float | None = None  # days since the customer last wrote to us
    affinity: Mapping[str, float] = field(default_factory=dict)  # category -> 0..1
    consented: bool = False  # a marketing opt-in on ``channel`` is recorded
    # Trigger facts (``_triggers``): purchase events, an abandoned cart, the birthday.
    purchases: int = 0
    days_since_first_purchase: float | None = None
    cart_abandoned_hours: float | None = None  # the latest cart of an item not bought since
    days_to_birthday: int | None = None  # 0 on the birthday, in the customer's time zone

    def as_json(self) -> dict[str, object]:
        """Plain JSON for the API and the command line."""
        return {
            "customer_id": self.customer_id,
            "channel": self.channel,
            "language": self.language,
            "timezone": self.timezone,
            "tags": sorted(self.tags),
            "recency_days": self.recency_days,
            "frequency": self.frequency,
            "monetary": self.monetary,
            "churn_risk": self.churn_risk,
            "days_since_contact": self.days_since_contact,
            "affinity": dict(self.affinity),
            "consented": self.consented,
            "purchases": self.purchases,
            "days_since_first_purchase": self.days_since_first_purchase,
            "cart_abandoned_hours": self.cart_abandoned_hours,
            "days_to_birthday": self.days_to_birthday,
        }


# The fields a segment may name, their kinds and how each is read; a missing number (never
# bought, never wrote) reads as a large value so "recency_days < 30" excludes those customers.
_NEVER = 1e9
FIELDS: dict[str, tuple[Kind, Callable[[CustomerProfile], Value]]] = {
    "customer_id": ("text", lambda p: p.customer_id),
    "channel": ("text", lambda p: p.channel),
    "language": ("text", lambda p: p.language),
    "timezone": ("text", lambda p: p.timezone),
    "tags": ("text_set", lambda p: p.tags),
    "recency_days": ("number", lambda p: _NEVER if p.recency_days is None else p.recency_days),
    "frequency": ("number", lambda p: float(p.frequency)),
    "monetary": ("number", lambda p: p.monetary),
    "churn_risk": ("number", lambda p: p.churn_risk),
    "days_since_contact": (
        "number",
        lambda p: _NEVER if p.days_since_contact is None else p.days_since_contact,
    ),
    "consented": ("bool", lambda p: p.consented),
    "purchases": ("number", lambda p: float(p.purchases)),
    # Trigger facts that did not happen read as NaN, which no comparison matches: a customer
    # without an abandoned cart is in neither "cart_abandoned_hours >= 4" nor "< 4".
    "days_since_first_purchase": ("number", lambda p: _unknown(p.days_since_first_purchase)),
    "cart_abandoned_hours": ("number", lambda p: _unknown(p.cart_abandoned_hours)),
    "days_to_birthday": ("number", lambda p: _unknown(p.days_to_birthday)),
}


def _unknown(value: float | None) -> float:
    return math.nan if value is None else float(value)


_AFFINITY = re.compile(r"affinity\.([a-z0-9_]{1,32})")

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+(?:\.\d+)?)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)?)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false"}


@dataclass(frozen=True)
class _Token:
    kind: str  # "number" | "string" | "op" | "name" | "keyword" | "end"
    text: str
    column: int


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            column = position + len(text[position:]) - len(text[position:].lstrip()) + 1
            raise InvalidSegment(f"column {column}: unexpected {text[column - 1]!r}")
        kind = match.lastgroup
        value = match.group(kind)
        column = match.start(kind) + 1
        if kind == "name" and value.lower() in _KEYWORDS:
            tokens.append(_Token("keyword", value.lower(), column))
        else:
            tokens.append(_Token(kind, value, column))
        position = match.end()
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


# ---- the tree --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal_:
    """A constant."""

    value: Value
    kind: Kind


@dataclass(frozen=True)
class FieldRef:
    """A profile field, read by name from ``FIELDS`` or ``affinity.<category>``."""

    name: str
    kind: Kind

    def read(self, profile: CustomerProfile) -> Value:
        affinity = _AFFINITY.fullmatch(self.name)
        if affinity:
            return float(profile.affinity.get(affinity.group(1), 0.0))
        return FIELDS[self.name][1](profile)


Operand = Literal_ | FieldRef


@dataclass(frozen=True)
class Compare:
    """``left op right``."""

    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True)
class Truth:
    """A boolean operand on its own (``consented``, ``true``)."""

    operand: Operand


@dataclass(frozen=True)
class Not:
    """``not inner``."""

    inner: Node


@dataclass(frozen=True)
class BoolOp:
    """``a and b and ...`` or ``a or b or ...``."""

    op: Literal["and", "or"]
    parts: tuple[Node, ...]


Node = Compare | Truth | Not | BoolOp


class _Parser:
    def __init__(self, text: str) -> None:
        self._tokens = _tokens(text)
        self._at = 0
        self._depth = 0

    def _peek(self) -> _Token:
        return self._tokens[self._at]

    def _take(self) -> _Token:
        token = self._tokens[self._at]
        self._at += 1
        return token

    def _expect(self, kind: str, text: str) -> None:
        token = self._take()
        if token.kind != kind or token.text != text:
            raise InvalidSegment(f"column {token.column}: expected {text!r}, found {_shown(token)}")

    def parse(self) -> Node:
        node = self._expr()
        token = self._peek()
        if token.kind != "end":
            raise InvalidSegment(f"column {token.column}: unexpected {_shown(token)}")
        return node

    def _expr(self) -> Node:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise InvalidSegment(f"the expression nests deeper than {MAX_DEPTH} levels")
        parts = [self._and()]
        while self._peek().kind == "keyword" and self._peek().text == "or":
            self._take()
            parts.append(self._and())
        self._depth -= 1
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def _and(self) -> Node:
        parts = [self._not()]
        while self._peek().kind == "keyword" and self._peek().text == "and":
            self._take()
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def _not(self) -> Node:
        token = self._peek()
        if token.kind == "keyword" and token.text == "not":
            self._take()
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise InvalidSegment(f"the expression nests deeper than {MAX_DEPTH} levels")
            inner = self._not()
            self._depth -= 1
            return Not(inner)
        if token.kind == "op" and token.text == "(":
            self._take()
            node = self._expr()
            self._expect("op", ")")
            return node
        return self._compare()

    def _compare(self) -> Node:
        start = self._peek()
        left = self._operand()
        token = self._peek()
        is_op = token.kind == "op" and token.text in {"==", "!=", "<", "<=", ">", ">="}
        if not (is_op or (token.kind == "keyword" and token.text == "in")):
            if left.kind != "bool":
                raise InvalidSegment(
                    f"column {start.column}: {_described(left)} is not a condition; "
                    "compare it (==, !=, <, <=, >, >=, in)"
                )
            return Truth(left)
        self._take()
        right = self._operand()
        _check_types(token, left, right)
        return Compare(token.text, left, right)

    def _operand(self) -> Operand:
        token = self._take()
        if token.kind == "number":
            return Literal_(float(token.text), "number")
        if token.kind == "string":
            return Literal_(_unquote(token.text), "text")
        if token.kind == "keyword" and token.text in {"true", "false"}:
            return Literal_(token.text == "true", "bool")
        if token.kind == "name":
            return _field(token)
        if token.kind == "op" and token.text == "[":
            return self._list(token)
        raise InvalidSegment(
            f"column {token.column}: expected a field, number, text or list, found {_shown(token)}"
        )

    def _list(self, opening: _Token) -> Literal_:
        items: list[str] = []
        while True:
            token = self._take()
            if token.kind == "op" and token.text == "]" and not items:
                break
            if token.kind != "string":
                raise InvalidSegment(
                    f"column {token.column}: a list holds texts in quotes, found {_shown(token)}"
                )
            items.append(_unquote(token.text))
            closing = self._take()
            if closing.kind == "op" and closing.text == "]":
                break
            if not (closing.kind == "op" and closing.text == ","):
                raise InvalidSegment(
                    f"column {closing.column}: expected ',' or ']' in the list opened at "
                    f"column {opening.column}, found {_shown(closing)}"
                )
        return Literal_(frozenset(items), "text_set")


def _field(token: _Token) -> FieldRef:
    if token.text in FIELDS:
        return FieldRef(token.text, FIELDS[token.text][0])
    if _AFFINITY.fullmatch(token.text):
        return FieldRef(token.text, "number")
    known = ", ".join([*FIELDS, "affinity.<category>"])
    raise InvalidSegment(f"column {token.column}: unknown field {token.text!r}; fields: {known}")


def _check_types(op: _Token, left: Operand, right: Operand) -> None:
    where = f"column {op.column}"
    if op.text == "in":
        if left.kind != "text" or right.kind != "text_set":
            raise InvalidSegment(
                f"{where}: 'in' asks whether a text is in a list or in tags "
                f'("vip" in tags), not {_described(left)} in {_described(right)}'
            )
        return
    if left.kind != right.kind or left.kind == "text_set":
        raise InvalidSegment(
            f"{where}: {_described(left)} cannot be compared with {_described(right)}"
        )
    if op.text not in {"==", "!="} and left.kind != "number":
        raise InvalidSegment(f"{where}: {op.text!r} compares numbers, not {_described(left)}")


def _described(operand: Operand) -> str:
    if isinstance(operand, FieldRef):
        article = "a list of texts" if operand.kind == "text_set" else f"a {operand.kind}"
        return f"{operand.name!r} ({article})"
    if operand.kind == "text_set":
        return "a list"
    if operand.kind == "text":
        return f"the text {operand.value!r}"
    return f"the {operand.kind} {operand.value!r}"


def _shown(token: _Token) -> str:
    return "the end" if token.kind == "end" else repr(token.text)


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


# ---- evaluation -------------------------------------------------------------------------------


def _value(operand: Operand, profile: CustomerProfile) -> Value:
    return operand.read(profile) if isinstance(operand, FieldRef) else operand.value


def _holds(node: Node, profile: CustomerProfile) -> bool:
    if isinstance(node, BoolOp):
        if node.op == "and":
            return all(_holds(part, profile) for part in node.parts)
        return any(_holds(part, profile) for part in node.parts)
    if isinstance(node, Not):
        return not _holds(node.inner, profile)
    if isinstance(node, Truth):
        return bool(_value(node.operand, profile))
    left, right = _value(node.left, profile), _value(node.right, profile)
    if any(isinstance(side, float) and math.isnan(side) for side in (left, right)):
        return False  # an unknown number (a trigger that never happened) matches nothing
    if node.op == "in":
        return isinstance(right, frozenset) and left in right
    if node.op == "==":
        return left == right
    if node.op == "!=":
        return left != right
    # Both sides are numbers: the parser checked the kinds.
    assert isinstance(left, float)
    assert isinstance(right, float)
    if math.isnan(left) or math.isnan(right):
        return False
    return {
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }[node.op]


@dataclass(frozen=True)
class Segment:
    """A parsed segment expression: call ``matches`` on profiles."""

    expression: str
    tree: Node

    @classmethod
    def parse(cls, expression: str) -> Segment:
        """Parse ``expression``; ``InvalidSegment`` says what is wrong and where."""
        if not isinstance(expression, str) or not expression.strip():
            raise InvalidSegment("the segment expression is empty")
        if len(expression) > MAX_EXPRESSION_CHARS:
            raise InvalidSegment(
                f"the segment expression is {len(expression)} characters long; "
                f"the limit is {MAX_EXPRESSION_CHARS}"
            )
        return cls(expression.strip(), _Parser(expression).parse())

    def matches(self, profile: CustomerProfile) -> bool:
        """Whether the customer belongs to the segment."""
        return _holds(self.tree, profile)
