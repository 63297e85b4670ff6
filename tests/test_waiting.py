"""The tests' one way to wait for a condition (tests/waiting.py): its first truthy answer, errors
it was told to ignore counted as "not yet", any other error at once, and a timeout that names
what was awaited."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.waiting import wait_until, wait_until_async


def answers(*values: object) -> Callable[[], object]:
    """A condition giving ``values`` in turn; an exception among them is raised."""
    given = iter(values)

    def condition() -> object:
        value = next(given)
        if isinstance(value, Exception):
            raise value
        return value

    return condition


def test_the_first_truthy_answer_is_returned() -> None:
    condition = answers(None, 0, [], "up", "later")
    assert wait_until(condition, "the server", timeout_s=5, interval_s=0.001) == "up"


def test_an_ignored_error_is_not_yet_and_any_other_ends_the_wait() -> None:
    refused = ConnectionRefusedError("not listening yet")
    condition = answers(refused, refused, "up")
    up = wait_until(
        condition, "the server", timeout_s=5, interval_s=0.001, ignoring=(ConnectionError,)
    )
    assert up == "up"
    exited = answers(RuntimeError("the server exited"), "never asked")
    with pytest.raises(RuntimeError, match="the server exited"):
        wait_until(exited, "the server", timeout_s=5, interval_s=0.001, ignoring=(OSError,))


def test_a_timeout_names_what_was_awaited_the_last_answer_and_the_detail() -> None:
    with pytest.raises(TimeoutError) as timed_out:
        wait_until(
            lambda: [],
            "the queue to fill",
            timeout_s=0.05,
            interval_s=0.01,
            detail=lambda: "log: nothing queued",
        )
    assert str(timed_out.value) == (
        "waited 0.05 s for the queue to fill; the last answer was []\nlog: nothing queued"
    )


def test_a_timeout_on_an_ignored_error_names_it_and_chains_it() -> None:
    refused = ConnectionRefusedError("not listening")
    with pytest.raises(TimeoutError) as timed_out:
        wait_until(
            answers(*[refused] * 1000),
            "the server to answer",
            timeout_s=0.05,
            interval_s=0.01,
            ignoring=(ConnectionError,),
        )
    assert str(timed_out.value) == (
        "waited 0.05 s for the server to answer; "
        "the last answer was ConnectionRefusedError('not listening')"
    )
    assert timed_out.value.__cause__ is refused


async def test_the_event_loop_runs_between_the_asks() -> None:
    ready = asyncio.Event()
    asyncio.get_running_loop().call_later(0.02, ready.set)
    assert await wait_until_async(ready.is_set, "the flag", timeout_s=5, interval_s=0.005)


async def test_a_coroutine_condition_is_awaited() -> None:
    asked: list[int] = []

    async def count() -> int | None:
        asked.append(1)
        return len(asked) if len(asked) == 3 else None

    async def never() -> None:
        return None

    assert await wait_until_async(count, "the third ask", timeout_s=5, interval_s=0.001) == 3
    with pytest.raises(
        TimeoutError, match=r"^waited 0.05 s for nothing; the last answer was None$"
    ):
        await wait_until_async(never, "nothing", timeout_s=0.05, interval_s=0.01)
