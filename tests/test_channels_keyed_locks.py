"""One customer's deliveries are handled in order: the per-sender lock of the app connectors."""

from __future__ import annotations

import asyncio

from channels.connector import KeyedLocks


def test_a_newcomer_waits_behind_a_woken_waiter_and_the_entry_goes_after() -> None:
    """The window between a release and the woken waiter taking the lock: a message arriving
    then must queue behind the waiter, not get a lock of its own (the CI failure where a
    customer's later message was answered before an earlier one)."""

    async def scenario() -> tuple[list[str], int, int]:
        locks = KeyedLocks()
        order: list[str] = []
        inside = 0
        most = 0
        a_may_leave = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []

        async def work(name: str, leave: asyncio.Event | None = None) -> None:
            nonlocal inside, most
            async with locks.hold("customer"):
                inside += 1
                most = max(most, inside)
                order.append(name)
                if leave is not None:
                    await leave.wait()
                await asyncio.sleep(0)  # a yield inside the lock, where an overtaker would run
                inside -= 1
            if name == "a":
                # Arrives right after the release, before "b" (woken) has run.
                tasks.append(asyncio.ensure_future(work("c")))

        first = asyncio.ensure_future(work("a", a_may_leave))
        await asyncio.sleep(0)
        second = asyncio.ensure_future(work("b"))
        await asyncio.sleep(0)
        assert order == ["a"]
        assert len(locks) == 1
        a_may_leave.set()
        await asyncio.gather(first, second)
        await asyncio.gather(*tasks)
        return order, most, len(locks)

    order, most, left = asyncio.run(scenario())
    assert order == ["a", "b", "c"]
    assert most == 1
    assert left == 0


def test_different_keys_do_not_wait_for_each_other() -> None:
    async def scenario() -> list[str]:
        locks = KeyedLocks()
        seen: list[str] = []
        release = asyncio.Event()

        async def hold_one() -> None:
            async with locks.hold("one"):
                seen.append("one")
                await release.wait()

        holder = asyncio.ensure_future(hold_one())
        await asyncio.sleep(0)
        async with locks.hold("two"):
            seen.append("two")
        release.set()
        await holder
        return seen

    assert asyncio.run(scenario()) == ["one", "two"]
