"""SingleFlight and BoundedSlots on their own: sharing work in flight, and bounding it."""

from __future__ import annotations

import asyncio

import pytest

from screenshotd import errors
from screenshotd.concurrency import BoundedSlots, SingleFlight


async def test_identical_work_in_flight_runs_once_and_everyone_gets_its_result():
    flights: SingleFlight[int] = SingleFlight("test")
    runs = 0
    release = asyncio.Event()

    async def work() -> int:
        nonlocal runs
        runs += 1
        await release.wait()
        return 42

    waiters = [asyncio.create_task(flights.run("k", work)) for _ in range(5)]
    await asyncio.sleep(0)
    assert "k" in flights and len(flights) == 1
    release.set()
    assert await asyncio.gather(*waiters) == [42] * 5
    assert runs == 1 and "k" not in flights  # landed: the next call runs again
    assert await flights.run("k", work) == 42 and runs == 2


async def test_an_error_is_shared_and_retrieved_even_with_no_waiter_left():
    flights: SingleFlight[int] = SingleFlight("test")

    async def fails() -> int:
        await asyncio.sleep(0.01)
        raise errors.NavigationFailed("nope")

    results = await asyncio.gather(flights.run("k", fails), flights.run("k", fails),
                                   return_exceptions=True)
    assert all(isinstance(r, errors.NavigationFailed) for r in results)
    assert len(flights) == 0


async def test_detached_work_outlives_its_waiters_and_undetached_work_does_not():
    flights: SingleFlight[str] = SingleFlight("test")
    finished: list[str] = []

    async def work(name: str) -> str:
        await asyncio.sleep(0.05)
        finished.append(name)
        return name

    kept = asyncio.create_task(flights.run("kept", lambda: work("kept"), detach=True))
    dropped = asyncio.create_task(flights.run("dropped", lambda: work("dropped"), detach=False))
    await asyncio.sleep(0.01)
    kept.cancel()
    dropped.cancel()
    await asyncio.sleep(0.1)
    assert finished == ["kept"]  # the undetached work was cancelled with its last waiter
    assert len(flights) == 0


async def test_a_detached_waiter_keeps_work_running_for_an_undetached_one():
    flights: SingleFlight[str] = SingleFlight("test")

    async def work() -> str:
        await asyncio.sleep(0.05)
        return "done"

    job = asyncio.create_task(flights.run("k", work, detach=False))
    http = asyncio.create_task(flights.run("k", work, detach=True))
    await asyncio.sleep(0.01)
    http.cancel()
    assert await job == "done"


async def test_cancel_all_stops_what_is_in_flight():
    flights: SingleFlight[None] = SingleFlight("test")
    waiter = asyncio.create_task(flights.run("k", lambda: asyncio.sleep(30)))
    await asyncio.sleep(0)
    await flights.cancel_all(grace=1)
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_slots_bound_holders_and_waiters_and_say_when_to_retry():
    slots = BoundedSlots(2, waiting=1, wait_s=0.2, what="test slot", typical_hold_s=4.0)
    await slots.acquire()
    await slots.acquire()
    assert slots.full and slots.in_use == 2
    waiter = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    assert slots.waiting == 1
    with pytest.raises(errors.PoolExhausted, match="wait queue is full") as full:
        await slots.acquire()  # at once: the queue is full
    assert full.value.retry_after == 6  # 4 s a hold, (1 waiting + 2 slots) / 2 slots
    with pytest.raises(errors.PoolExhausted, match=r"became free in time \(0.2 s\)"):
        await waiter
    slots.release()
    await asyncio.wait_for(slots.acquire(), 1)  # a freed slot is taken at once
    slots.release()
    slots.release()
    await asyncio.wait_for(slots.drained(), 1)
    slots.observe(14.0)
    assert slots.hold_s == pytest.approx(0.8 * 4.0 + 0.2 * 14.0)


async def test_a_waiter_gets_the_first_slot_given_back():
    slots = BoundedSlots(1, waiting=5, wait_s=5, what="test slot")
    await slots.acquire()
    waiter = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    assert not waiter.done()
    slots.release()
    await asyncio.wait_for(waiter, 1)
    assert slots.in_use == 1 and slots.waiting == 0
