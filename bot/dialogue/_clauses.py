"""Reading the shape of a customer's message: several requests in one, a stop before a new one.

Standard library only, so that the action server and the benchmark share it. Intents come from
Rasa; this module only finds where a message changes subject, which Rasa's single-intent
classifier cannot say.
"""

from __future__ import annotations

import re

# Words that start another request in the same message ("…，顺便问下退货要几天"). A question
# mark followed by more text ends one request too ("who pays return shipping? and where is
# YX…"), with or without "and"/"还有" after it.
_CONNECTOR = re.compile(
    r"顺便(?:问一?下|问问|说一?下)?|另外|还有(?:就是)?|还想问|再问一?下|然后|"
    r"\b(?:also|and also|by the way|btw|plus|another question|one more thing)\b|"
    r"(?<=[?？])\s*(?:and\b|&)?\s*(?=\S)",
    re.IGNORECASE,
)
_CLAUSE_END = re.compile(r"[，,。.;；!！?？\n]+")
# A stop that opens the message: "算了，帮我推荐个耳机吧", "never mind, cancel it instead".
_STOP_FIRST = re.compile(
    r"^\s*(?:算了|不用了|不要了|不办了|不弄了|不退了|不改了|不取消了|不查了|先不|别弄了|"
    r"never\s?mind|forget (?:it|that|the \w+)|scratch that|cancel that|skip (?:it|that))",
    re.IGNORECASE,
)
_QUESTION = re.compile(
    r"[?？]|吗|呢|多久|几天|多少|怎么|如何|能不能|可不可以|可以.+吗|是否|哪|什么|谁|有没有|"
    r"^\s*(?:how|what|when|where|why|which|who|can|could|do|does|is|are|will|would)\b",
    re.IGNORECASE,
)
# Which task a further request of a message asks for, by its words: Rasa classified the message
# as a whole, so the clauses are told apart here (a handful of words per task is enough to say
# "this clause asks for something else"; the task itself starts when the customer says so and
# Rasa reads the clause on its own). Checked in this order: "取消退货" is a cancellation.
_TASK_WORDS = (
    ("cancel_form", re.compile(r"取消|不要这[单个]|\bcancel", re.IGNORECASE)),
    ("return_form", re.compile(r"退货|退款|退掉|退换|\b(?:return|refund)", re.IGNORECASE)),
    ("address_form", re.compile(r"地址|\baddress\b", re.IGNORECASE)),
    ("recommend_form", re.compile(r"推荐|\b(?:recommend|suggest)", re.IGNORECASE)),
    (
        "order_status_form",
        re.compile(
            r"查.{0,4}(?:订单|物流|快递)|到哪|物流|发货了|\b(?:track|status|where is)",
            re.IGNORECASE,
        ),
    ),
)
# "继续", "接着办", "go on": carry on with what was offered; "不用继续了" is no such answer.
_GO_ON = re.compile(
    r"^\s*(?:好的?[，,]?\s*)?(?:继续|接着|接着办|继续办理?|继续吧|接着来)|"
    r"^\s*(?:yes[,!]?\s*)?(?:go on|continue|carry on|resume|let'?s continue|keep going)\b",
    re.IGNORECASE,
)
# "预算不限", "多少钱都行", "no budget limit": the answer to the budget question is "any".
_ANY_BUDGET = re.compile(
    r"不限|不设限|没有?(?:什么)?预算|无预算|预算(?:无所谓|随意|随便)|多少钱?都(?:行|可以|没关系|无所谓)|"
    r"价(?:格|钱)?(?:无所谓|随便|都行)|贵(?:一点|点)?(?:也|都)(?:没关系|行|可以)|"
    r"\b(?:no|any|whatever|unlimited|without a?)\s*(?:budget|price|limit)|no (?:price )?limit|"
    r"\bany (?:price|amount)|money is no object|price (?:doesn'?t|does not) matter|"
    r"(?:doesn'?t|does not|don'?t) (?:matter|care)",
    re.IGNORECASE,
)
# Words that name the budget: outside the budget question, "不限" or "doesn't matter" says the
# budget does not matter only in a clause that names it ("推荐个耳机，预算不限"); alone, it may be
# about the colour, the brand or anything else.
_BUDGET_WORD = re.compile(
    r"预算|价格|价钱|价位|多少钱|钱|贵|\b(?:budget|price|prices|money|cost|spend|expensive)\b",
    re.IGNORECASE,
)
# What may stand beside an order id in a message that only names it: "订单YX…", "order no. YX…",
# "my order YX… please". A short typo of "track"/"status"/"check" ("trak", "staus") is read as
# the status request it almost certainly is: anything longer is left to NLU.
_ORDER_FILLER = re.compile(
    r"订单号?|单号|我的|的|请|麻烦|帮我|查一?下|查询?|看一?下|是|一下|"
    r"\b(?:my|the|order|no|number|id|please|pls|plz|for|of|is|it'?s|this|that|hi|hello)\b|"
    r"[\s#:：.,，。!！?？()（）\-]",
    re.IGNORECASE,
)
_BARE_WORD = re.compile(r"[a-z]{1,6}|[\u4e00-\u9fff]{1,2}", re.IGNORECASE)
_NEGATED = re.compile(r"不|别|没|\b(?:no|not|don'?t|stop)\b", re.IGNORECASE)
_MIN_CLAUSE_CHARS = 2
_HAN = re.compile(r"[\u4e00-\u9fff]")


def other_requests(text: str) -> list[str]:
    """The requests of a message that a connector splits into several, in order.

    "查一下订单YX2611010001，顺便问下退货要几天" gives ["查一下订单YX2611010001", "退货要几天"];
    "退货要几天？另外帮我查下订单…" gives both parts too; a message without a connector gives [].
    """
    if _CONNECTOR.search(text) is None:
        return []
    parts = []
    for segment in _CONNECTOR.split(text):
        clauses = [c.strip(" ：:") for c in _CLAUSE_END.split(segment)]
        clauses = [c for c in clauses if len(c) >= _MIN_CLAUSE_CHARS]
        if clauses:
            parts.append("，".join(clauses) if _HAN.search(segment) else ", ".join(clauses))
    return parts if len(parts) > 1 else []


def clause_task(clause: str) -> str | None:
    """The form a request clause asks for ("另外我想退货" → "return_form"), None when its words
    name no task."""
    for form, words in _TASK_WORDS:
        if words.search(clause):
            return form
    return None


def carries_on(text: str) -> bool:
    """Whether the message says to carry on ("继续", "接着办", "go on") and nothing against it."""
    return _GO_ON.search(text) is not None and _NEGATED.search(text) is None


def drops_current_task(text: str) -> bool:
    """Whether the message opens with a stop ("算了", "never mind") before saying anything else."""
    return _STOP_FIRST.search(text) is not None


def is_question(text: str) -> bool:
    """Whether a clause asks something rather than telling or requesting."""
    return _QUESTION.search(text) is not None


def means_any_budget(text: str) -> bool:
    """Whether the message says the budget does not matter ("预算不限", "多少钱都行", "no budget
    limit"); a message that also names an amount ("不超过500") is not such an answer."""
    return _ANY_BUDGET.search(text) is not None and re.search(r"\d", text) is None


def names_any_budget(text: str) -> bool:
    """Whether a message that was not answering the budget question says in passing that the
    budget does not matter ("推荐个耳机，预算不限", "recommend headphones, no budget limit"): one
    of its clauses says so and names the budget or price; an amount anywhere says otherwise."""
    if re.search(r"\d", text) is not None:
        return False
    return any(
        _ANY_BUDGET.search(clause) is not None and _BUDGET_WORD.search(clause) is not None
        for clause in _CLAUSE_END.split(text)
    )


def order_message_task(rest: str) -> str | None:
    """The task a message that names one order asks for, from its words besides the order id
    (``rest``): the task its words name ("…收货地址改为…" → "address_form"), the order's status
    when nothing but filler stands beside the id ("订单", "order", the typo "trak"), else None
    (a complaint or a question about the order is for NLU and the knowledge base to read).

    A shop customer who sends just an order id expects to hear where that order is: the status
    check is read-only, needs the same verification as any other task, and its reply leads on to
    the rest; asking "what should I do with it?" first would cost every such customer a turn.
    """
    task = clause_task(rest)
    if task is not None:
        return None if task == "recommend_form" else task
    remainder = _ORDER_FILLER.sub(" ", rest).split()
    if not remainder:
        return "order_status_form"
    if len(remainder) == 1 and _BARE_WORD.fullmatch(remainder[0]):
        return "order_status_form"
    return None
