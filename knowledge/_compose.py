"""Answer texts: extractive excerpts of passages, and what the assistant says in each language."""

from __future__ import annotations

from collections.abc import Sequence

from knowledge._text import sentences, tokens

# How much of a passage an extractive answer quotes: a chat bubble, not a page.
EXCERPT_CHARS = {"zh": 180, "en": 420}

ABSTAIN = {
    "zh": "抱歉，我在知识库里没有找到这个问题的可靠答案。我可以为您转接人工客服。",
    "en": "Sorry, I couldn't find a reliable answer to that in our knowledge base. "
    "I can connect you with a human agent.",
}
ONLY_IN_OTHER_LANGUAGE = {
    "zh": "（这部分资料目前只有英文版本，原文如下）",
    "en": "(This information is only available in Chinese; here is the original text.)",
}


def excerpt(body: str, question: str, language: str) -> str:
    """The sentences of a passage that best answer the question, in their order, within a limit.

    Starts at the sentence sharing the most words with the question and reads on, so the answer
    keeps the passage's own wording and sense.
    """
    parts = sentences(body)
    if not parts:
        return body.strip()
    limit = EXCERPT_CHARS.get(language, EXCERPT_CHARS["en"])
    wanted = set(tokens(question))
    overlaps = [len(wanted & set(tokens(part))) for part in parts]
    start = max(range(len(parts)), key=lambda i: (overlaps[i], -i)) if any(overlaps) else 0
    # A list item needs the line that introduces it.
    if start > 0 and parts[start].lstrip().startswith(("-", "*", "•")):
        while start > 0 and parts[start - 1].lstrip().startswith(("-", "*", "•")):
            start -= 1
        start -= 1 if start > 0 else 0
    chosen: list[str] = []
    used = 0
    for part in parts[start:]:
        if chosen and used + len(part) > limit:
            break
        chosen.append(part)
        used += len(part)
    return _join(chosen)


def _join(parts: Sequence[str]) -> str:
    text = ""
    for part in parts:
        if not text:
            text = part
        elif part.lstrip().startswith(("-", "*", "•")) or text.endswith(("：", ":")):
            text += "\n" + part
        elif text[-1] in "。！？；":
            text += part
        else:
            text += " " + part
    return text
