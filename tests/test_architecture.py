"""The shape of the code: layers (import-linter's contracts), public entries, one error map."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import bot.conversations
import bot.dialogue
import bot.handoff
import bot.media
import bot.orders
import bot.outbox
import bot.privacy
import bot.recommend
import bot.tickets
import channels.media
import knowledge
from bot.app import PROJECT_ROOT
from channels.connector import NOT_HTTP, STATUS, WRAPPERS, status_of

PACKAGES = ("bot", "channels", "knowledge", "actions")


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``from X import`` and ``import X`` in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def _package_of(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    else:
        parts.pop()  # a module's own package
    return ".".join(parts)


def test_no_module_imports_a_private_module_of_another_package() -> None:
    wrong = []
    for top in PACKAGES:
        for path in sorted((PROJECT_ROOT / top).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            own = _package_of(path)
            for line, module in _imports(path):
                if module.split(".")[0] not in PACKAGES:
                    continue
                parts = module.split(".")
                private = [i for i, part in enumerate(parts) if part.startswith("_")]
                if not private:
                    continue
                owner = ".".join(parts[: private[0]])
                if own != owner and not own.startswith(owner + "."):
                    wrong.append(f"{path.relative_to(PROJECT_ROOT)}:{line} imports {module}")
    assert wrong == []


def test_import_linter_contracts_are_kept() -> None:
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(linter), "--no-cache"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _public_exceptions() -> list[type[Exception]]:
    found: dict[str, type[Exception]] = {}
    for package in (
        bot.conversations,
        bot.dialogue,
        bot.handoff,
        bot.media,
        bot.orders,
        bot.outbox,
        bot.privacy,
        bot.recommend,
        bot.tickets,
    ):
        for name in package.__all__:
            value = getattr(package, name)
            if inspect.isclass(value) and issubclass(value, Exception):
                found[f"{package.__name__}.{name}"] = value
    for package in (channels.media, knowledge):
        for name in package.__all__:
            value = getattr(package, name)
            if inspect.isclass(value) and issubclass(value, Exception):
                found[f"{package.__name__}.{name}"] = value
    return list(found.values())


def _is_base(kind: type[Exception], every: list[type[Exception]]) -> bool:
    return any(other is not kind and issubclass(other, kind) for other in every)


@pytest.mark.parametrize("kind", _public_exceptions(), ids=lambda k: k.__qualname__)
def test_every_public_exception_has_one_http_status(kind: type[Exception]) -> None:
    every = _public_exceptions()
    if kind in NOT_HTTP or kind in WRAPPERS or _is_base(kind, every):
        return
    mapped = [k for k, _status, _reason in STATUS if issubclass(kind, k)]
    assert mapped, f"{kind.__module__}.{kind.__qualname__} has no HTTP status in channels.connector"
    assert mapped[0] is kind, (
        f"{kind.__qualname__} is answered as {mapped[0].__qualname__}: map it itself"
    )


def test_every_exception_defined_in_an_errors_module_is_exported() -> None:
    missing = []
    for errors in sorted(PROJECT_ROOT.glob("*/**/_errors.py")):
        package = _package_of(errors)
        if package.startswith(".venv") or package.split(".")[0] not in PACKAGES:
            continue
        if package == "channels.connector":
            continue  # the map itself
        module = __import__(package, fromlist=["__all__"])
        tree = ast.parse(errors.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name not in module.__all__:
                missing.append(f"{package}.{node.name}")
    assert missing == []


def test_the_map_answers_wrapped_errors_by_their_cause() -> None:
    unreadable = bot.media.KeptButUnreadable(channels.media.SilentAudio("no words"), "a1")
    assert status_of(unreadable) == (422, "silent")
    assert status_of(RuntimeError("anything else")) == (500, "internal")
