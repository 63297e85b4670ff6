"""Waiting in tests for a condition that has no event: polled against a deadline, and a timeout
that names what was awaited.

One way for every test, so none hand-writes a loop that forgets its deadline or its message.
Built on tenacity (locked in requirements/hub.txt for chromadb and langchain-core, listed in
requirements/dev.in for this use) rather than a loop of our own. Where there is an event to wait
on (a threading or asyncio Event or Condition, a process's output, Playwright's ``expect`` and
``wait_for_*``), wait on that instead: a poll only samples the condition.
"""

from __future__ import annotations

import inspect
import reprlib
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar, overload

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

T = TypeVar("T")

# A last answer long enough to read in the message (a response, rows), not a whole database.
_last_answer = reprlib.Repr()
_last_answer.maxstring = _last_answer.maxother = 500
_last_answer.maxlist = _last_answer.maxtuple = _last_answer.maxdict = 20


def wait_until(
    condition: Callable[[], T | None],
    what: str,
    *,
    timeout_s: float,
    interval_s: float = 0.05,
    ignoring: tuple[type[Exception], ...] = (),
    detail: Callable[[], str] | None = None,
) -> T:
    """``condition()``'s first truthy answer, asked every ``interval_s``.

    An exception of a type in ``ignoring`` counts as a falsy answer (a server not listening
    yet); any other ends the wait at once. After ``timeout_s``, ``TimeoutError`` names ``what``
    (a phrase such as "the hub to restart"), the last answer, and ``detail()`` (a log's tail).
    """
    retrying = Retrying(
        stop=stop_after_delay(timeout_s),
        wait=wait_fixed(interval_s),
        retry=retry_if_result(_falsy) | retry_if_exception_type(ignoring),
        retry_error_callback=_timed_out(what, timeout_s, detail),
    )
    answer = retrying(condition)
    assert answer is not None  # only a truthy answer ends the wait
    return answer


@overload
async def wait_until_async(
    condition: Callable[[], Awaitable[T | None]],
    what: str,
    *,
    timeout_s: float,
    interval_s: float = ...,
    ignoring: tuple[type[Exception], ...] = ...,
    detail: Callable[[], str] | None = ...,
) -> T: ...


@overload
async def wait_until_async(
    condition: Callable[[], T | None],
    what: str,
    *,
    timeout_s: float,
    interval_s: float = ...,
    ignoring: tuple[type[Exception], ...] = ...,
    detail: Callable[[], str] | None = ...,
) -> T: ...


async def wait_until_async(
    condition: Callable[[], T | Awaitable[T | None] | None],
    what: str,
    *,
    timeout_s: float,
    interval_s: float = 0.05,
    ignoring: tuple[type[Exception], ...] = (),
    detail: Callable[[], str] | None = None,
) -> T:
    """``wait_until`` in an event loop: ``condition`` may be a coroutine function, and the loop
    runs between the asks."""

    async def ask() -> T | None:
        answer = condition()
        if inspect.isawaitable(answer):
            return await answer
        return answer

    retrying = AsyncRetrying(
        stop=stop_after_delay(timeout_s),
        wait=wait_fixed(interval_s),
        retry=retry_if_result(_falsy) | retry_if_exception_type(ignoring),
        retry_error_callback=_timed_out(what, timeout_s, detail),
    )
    answer: T | None = await retrying(ask)
    assert answer is not None  # only a truthy answer ends the wait
    return answer


def _falsy(answer: object) -> bool:
    return not answer


def _timed_out(
    what: str, timeout_s: float, detail: Callable[[], str] | None
) -> Callable[[RetryCallState], NoReturn]:
    def give_up(state: RetryCallState) -> NoReturn:
        outcome = state.outcome
        assert outcome is not None  # tenacity gives up only after an attempt
        error = outcome.exception() if outcome.failed else None
        last = _last_answer.repr(error if error is not None else outcome.result())
        message = f"waited {timeout_s:g} s for {what}; the last answer was {last}"
        if detail is not None:
            message += f"\n{detail()}"
        raise TimeoutError(message) from error

    return give_up
