"""Rebuild the outside intent sets under nlu_data/outside/ from their sources.

    .venv/bin/pip download --no-deps chatterbot-corpus==1.3.3 -d /tmp/cc
    .venv/bin/python nlu_data/outside/build.py \
        --chatterbot-wheel /tmp/cc/chatterbot_corpus-1.3.3-py2.py3-none-any.whl

Every split is decided by a hash of the example's text within its intent, so a rebuild gives the
same files whatever the order of the source, and no text sits in two splits or two intents.
See README.md beside this file for the sources, their licences and what each file holds.
"""

from __future__ import annotations

import argparse
import hashlib
import zipfile
from collections import defaultdict
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
Example = tuple[str, str]  # (text, intent)

# Chatterbot categories that say what the conversation is about; each becomes one "intent".
MIN_PER_CATEGORY = 12
# Chatterbot topics that are out of scope for SNIPS (music, restaurants, films, books, weather,
# creative works): the OOS messages of the English rejection test.
SNIPS_OOS_TOPICS = {
    "ai", "botprofile", "coding", "computers", "conversations", "emotion", "gossip", "greetings",
    "health", "humor", "money", "politics", "psychology", "science", "sports", "tech_support",
    "trivia",
}  # fmt: skip
OOS_DEV, OOS_TEST = 120, 200


def _rank(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _clean(text: str) -> str:
    # Square brackets would read as Rasa entity annotations.
    return " ".join(text.replace("[", " ").replace("]", " ").split())


def deduplicate(examples: list[Example]) -> list[Example]:
    """Drop repeated texts, and texts labelled with more than one intent."""
    intents: dict[str, set[str]] = defaultdict(set)
    for text, intent in examples:
        intents[text].add(intent)
    seen: set[str] = set()
    kept = []
    for text, intent in examples:
        if len(intents[text]) == 1 and text not in seen:
            seen.add(text)
            kept.append((text, intent))
    return kept


def split(examples: list[Example], fractions: tuple[float, ...]) -> list[list[Example]]:
    """Per intent, order the examples by text hash and cut them at the given fractions."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, intent in examples:
        by_intent[intent].append(text)
    parts: list[list[Example]] = [[] for _ in fractions]
    for intent, texts in sorted(by_intent.items()):
        texts.sort(key=_rank)
        start = 0
        for index, fraction in enumerate(fractions):
            end = (
                len(texts) if index == len(fractions) - 1 else start + round(fraction * len(texts))
            )
            parts[index].extend((t, intent) for t in texts[start:end])
            start = end
    return parts


def write(examples: list[Example], path: Path, note: str) -> None:
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, intent in examples:
        by_intent[intent].append(text)
    nlu = [
        {"intent": intent, "examples": "".join(f"- {t}\n" for t in texts)}
        for intent, texts in sorted(by_intent.items())
    ]
    body = yaml.safe_dump({"version": "3.1", "nlu": nlu}, allow_unicode=True, width=1000)
    path.write_text(f"# {note} Built by nlu_data/outside/build.py.\n{body}", encoding="utf-8")
    print(f"{path.relative_to(HERE)}: {len(examples)} examples, {len(by_intent)} intents")


def build_smp2017() -> None:
    """Official train (2,299) as train; the official develop set (770) halved into dev and test."""
    folder = HERE / "smp2017_ecdt"
    rows = (folder / "source.tsv").read_text(encoding="utf-8").splitlines()[1:]
    examples = [(_clean(r.split("\t")[0]), r.split("\t")[1].strip()) for r in rows]
    # The source lists the train set, then the develop set, each sorted by intent.
    restart = next(i for i in range(1, len(examples)) if examples[i][1] < examples[i - 1][1])
    train = deduplicate(examples[:restart])
    seen = {t for t, _ in train}
    develop = deduplicate([e for e in examples[restart:] if e[0] not in seen])
    dev, test = split(develop, (0.5, 0.5))
    write(train, folder / "train.yml", "SMP2017-ECDT task 1, official train set.")
    write(dev, folder / "dev.yml", "SMP2017-ECDT task 1, half of the official develop set.")
    write(test, folder / "test.yml", "SMP2017-ECDT task 1, other half of the develop set.")


def build_snips() -> None:
    """The 700 messages of the SNIPS test set: 50 % train, 20 % dev, 30 % test."""
    folder = HERE / "snips"
    texts = (folder / "source.seq.in").read_text(encoding="utf-8").splitlines()
    labels = (folder / "source.label").read_text(encoding="utf-8").splitlines()
    if len(texts) != len(labels):
        raise SystemExit(f"snips: {len(texts)} texts but {len(labels)} labels")
    examples = deduplicate([(_clean(t), lab.strip()) for t, lab in zip(texts, labels, strict=True)])
    train, dev, test = split(examples, (0.5, 0.2, 0.3))
    write(train, folder / "train.yml", "SNIPS (7 intents), 50 % of its test set.")
    write(dev, folder / "dev.yml", "SNIPS, 20 % of its test set.")
    write(test, folder / "test.yml", "SNIPS, 30 % of its test set.")


def chatterbot_statements(wheel: Path, language: str) -> list[Example]:
    """The first message of every chatterbot conversation, labelled with its category."""
    examples = []
    with zipfile.ZipFile(wheel) as archive:
        prefix = f"chatterbot_corpus/data/{language}/"
        for name in sorted(n for n in archive.namelist() if n.startswith(prefix)):
            if not name.endswith(".yml"):
                continue
            data = yaml.safe_load(archive.read(name).decode("utf-8")) or {}
            category = Path(name).stem
            for conversation in data.get("conversations") or []:
                if conversation and isinstance(conversation[0], str) and conversation[0].strip():
                    examples.append((_clean(conversation[0]), category))
    return deduplicate(examples)


def build_chatterbot(wheel: Path) -> list[Example]:
    """Topic "intents" from chatterbot-corpus, Chinese and English: 60/20/20 per category."""
    folder = HERE / "chatterbot"
    english: list[Example] = []
    for language, code in (("chinese", "zh"), ("english", "en")):
        examples = chatterbot_statements(wheel, language)
        if language == "english":
            english = examples
        counts: dict[str, int] = defaultdict(int)
        for _, category in examples:
            counts[category] += 1
        kept = [e for e in examples if counts[e[1]] >= MIN_PER_CATEGORY]
        train, dev, test = split(kept, (0.6, 0.2, 0.2))
        note = f"chatterbot-corpus 1.3.3 {language} topics (BSD-3-Clause),"
        write(train, folder / f"{code}_train.yml", f"{note} 60 % per topic.")
        write(dev, folder / f"{code}_dev.yml", f"{note} 20 % per topic.")
        write(test, folder / f"{code}_test.yml", f"{note} 20 % per topic.")
    return english


def build_snips_oos(english_chatterbot: list[Example]) -> None:
    """SNIPS dev and test plus chit-chat and tech questions no SNIPS intent covers, as "oos"."""
    folder = HERE / "snips"
    snips_texts = {t for t in (folder / "source.seq.in").read_text(encoding="utf-8").splitlines()}
    pool = sorted(
        (
            t
            for t, topic in english_chatterbot
            if topic in SNIPS_OOS_TOPICS and t not in snips_texts
        ),
        key=_rank,
    )
    if len(pool) < OOS_DEV + OOS_TEST:
        raise SystemExit(f"only {len(pool)} out-of-scope messages; need {OOS_DEV + OOS_TEST}")
    for name, oos in (("dev", pool[:OOS_DEV]), ("test", pool[OOS_DEV : OOS_DEV + OOS_TEST])):
        in_scope = _read(folder / f"{name}.yml")
        write(
            in_scope + [(t, "oos") for t in oos],
            folder / f"{name}_oos.yml",
            f"SNIPS {name} plus {len(oos)} out-of-scope chatterbot-corpus messages (intent oos).",
        )


def _read(path: Path) -> list[Example]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        (line[2:].strip(), str(block["intent"]))
        for block in data["nlu"]
        for line in str(block["examples"]).splitlines()
        if line.startswith("- ")
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--chatterbot-wheel",
        type=Path,
        required=True,
        help="chatterbot_corpus-1.3.3-py2.py3-none-any.whl (pip download --no-deps)",
    )
    args = parser.parse_args()
    if not zipfile.is_zipfile(args.chatterbot_wheel):
        raise SystemExit(f"{args.chatterbot_wheel} is not a wheel (a zip file)")
    build_smp2017()
    build_snips()
    english = build_chatterbot(args.chatterbot_wheel)
    build_snips_oos(english)


if __name__ == "__main__":
    main()
