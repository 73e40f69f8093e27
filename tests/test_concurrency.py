"""SingleFlight and BoundedSlots on their own: sharing work in flight, and bounding it."""

from __future__ import annotations

import asyncio
import math

import pytest

from screenshotd import errors
from screenshotd.concurrency import RETRY_HORIZON, BoundedSlots, FairQueue, SingleFlight


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


async def test_slots_bound_holders_and_a_hard_cap_bounds_waiters():
    slots = BoundedSlots(2, waiting=1, wait_s=0.2, what="test slot", typical_hold_s=0.1)
    await slots.acquire()
    await slots.acquire()
    assert slots.full and slots.in_use == 2
    waiter = asyncio.create_task(slots.acquire())  # expected 0.05 s: it may wait
    await asyncio.sleep(0)
    assert slots.waiting == 1
    with pytest.raises(errors.PoolExhausted, match=r"wait queue is full \(1 waiting") as full:
        await slots.acquire()  # at once: the hard cap
    assert full.value.retry_after == 1
    with pytest.raises(errors.PoolExhausted, match=r"became free in time \(0.2 s\)"):
        await waiter
    slots.release()
    await asyncio.wait_for(slots.acquire(), 1)  # a freed slot is taken at once
    slots.release()
    slots.release()
    await asyncio.wait_for(slots.drained(), 1)
    slots.observe(14.0)
    assert slots.hold_s == pytest.approx(0.8 * 0.1 + 0.2 * 14.0)
    assert slots.refused == 2


async def test_admission_is_by_expected_wait_and_the_surplus_is_told_when_to_return():
    """Without a cap, a request waits when a slot can be expected within wait_s. A burst's
    surplus is refused at once, each told to come back one hold time per slot after the one
    refused before it, so that each is taken when it returns."""
    slots = BoundedSlots(2, waiting=None, wait_s=3.0, what="test slot", typical_hold_s=1.0)
    await slots.acquire()
    await slots.acquire()
    assert slots.expected_wait() == pytest.approx(0.5)  # 1 (itself) x 1 s / 2 slots
    waiters = [asyncio.create_task(slots.acquire()) for _ in range(7)]
    await asyncio.sleep(0)
    assert slots.waiting == 6  # the sixth expects (5 + 1) x 1 s / 2 = 3 s; the seventh 3.5 s
    refused = [outcome for outcome in await asyncio.gather(
        *[asyncio.wait_for(w, 0.01) for w in waiters if w.done()], return_exceptions=True)]
    assert len(refused) == 1 and isinstance(refused[0], errors.PoolExhausted)
    assert "about 4 s" in refused[0].message and refused[0].retry_after == 1  # 3.5 - 3 s
    tickets = []
    for _ in range(3):
        with pytest.raises(errors.PoolExhausted) as later:
            await slots.acquire()
        tickets.append(later.value.retry_after)
    # spaced by a hold per slot (0.5 s) after the first one's 0.5 s: 1.0, 1.5, 2.0 s
    assert tickets == [1, 2, 2]
    assert slots.refused == 4
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)


async def test_a_waiter_gets_the_first_slot_given_back():
    slots = BoundedSlots(1, waiting=5, wait_s=5, what="test slot")
    await slots.acquire()
    waiter = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    assert not waiter.done()
    slots.release()
    await asyncio.wait_for(waiter, 1)
    assert slots.in_use == 1 and slots.waiting == 0


def test_a_fair_queue_takes_owners_in_turn_and_passes_over_one_at_its_share():
    line: FairQueue[str] = FairQueue()
    for item in ("a1", "a2", "a3"):
        line.push("a", item)
    line.push("b", "b1")
    line.push("c", "c1")
    assert len(line) == 5
    assert line.pop() == ("a", "a1")  # a's turn, then a goes to the back
    assert line.pop() == ("b", "b1")
    # a holds 2 (its share) while c waits: c first, then a again once it is alone
    assert line.pop({"a": 2}, cap=2) == ("c", "c1")
    assert line.pop({"a": 2}, cap=2) == ("a", "a2")
    assert line.remove("a", "a3") and not line.remove("a", "a3")
    assert line.pop() is None and len(line) == 0


def test_a_fair_queue_passes_over_an_owner_at_its_own_limit_even_alone():
    line: FairQueue[str] = FairQueue()
    line.push("a", "a1")
    limits = {"a": 1}.get
    assert line.pop({"a": 1}, limit=limits) is None  # a holds its limit: nothing to take
    line.push("b", "b1")
    assert line.pop({"a": 1}, limit=limits) == ("b", "b1")
    assert line.waiting_for("a") == 1 and line.pop({"a": 0}, limit=limits) == ("a", "a1")


def test_a_fair_queue_serves_a_preferred_owner_first_within_the_share():
    line: FairQueue[str] = FairQueue()
    for owner in ("a", "b", "c"):
        line.push(owner, f"{owner}1")
        line.push(owner, f"{owner}2")
    ready = {"c"}.__contains__  # c's kept page is ready
    assert line.pop(prefer=ready) == ("c", "c1")  # before a, whose turn it was
    # c holds its share (2 of cap 2): passed over, preferred or not; a's turn
    assert line.pop({"c": 2}, cap=2, prefer=ready) == ("a", "a1")
    # nobody preferred: strictly in turn
    assert line.pop({"c": 1}, cap=2, prefer=lambda _o: False) == ("b", "b1")
    assert line.pop({"c": 1}, cap=2, prefer=ready) == ("c", "c2")


async def test_a_free_slot_goes_first_to_a_caller_whose_kept_page_is_ready():
    slots = BoundedSlots(1, None, 5.0, what="slot", per_owner=1)
    slots.prefer = {"ready"}.__contains__
    await slots.acquire("first")
    cold = asyncio.create_task(slots.acquire("cold"))
    await asyncio.sleep(0)
    ready = asyncio.create_task(slots.acquire("ready"))
    await asyncio.sleep(0)
    slots.release("first")
    await asyncio.sleep(0)
    assert ready.done() and not cold.done()
    slots.release("ready")
    await asyncio.wait_for(cold, 1)
    slots.release("cold")


async def test_a_flood_from_one_owner_cannot_hold_every_slot_while_another_waits():
    slots = BoundedSlots(3, None, 5.0, what="slot", per_owner=2)
    for _ in range(3):  # alone, an owner may use every slot
        await slots.acquire("flood")
    assert slots.held_by("flood") == 3
    flood = [asyncio.create_task(slots.acquire("flood")) for _ in range(6)]
    await asyncio.sleep(0)
    other = asyncio.create_task(slots.acquire("other"))
    await asyncio.sleep(0)
    slots.release("flood")  # the other caller arrived last, and is served first
    await asyncio.sleep(0)
    assert other.done() and slots.held_by("other") == 1 and slots.held_by("flood") == 2
    second = asyncio.create_task(slots.acquire("other"))
    await asyncio.sleep(0)
    slots.release("other")
    await asyncio.sleep(0)
    assert second.done() and slots.held_by("flood") == 2  # flood stays at its share
    slots.release("other")
    for _ in range(8):
        await asyncio.sleep(0)
        if slots.held_by("flood") == 3:
            break
    assert slots.held_by("flood") == 3  # alone again: it takes the free slot
    for task in flood:
        task.cancel()
    await asyncio.gather(*flood, return_exceptions=True)
    assert slots.waiting == 0 and slots.in_use == 3


async def test_an_owner_s_own_cap_holds_even_on_an_idle_service():
    slots = BoundedSlots(3, None, 5.0, what="slot", typical_hold_s=0.5)
    slots.caps = {"capped": 1}.get
    await slots.acquire("capped")
    second = asyncio.create_task(slots.acquire("capped"))
    await asyncio.sleep(0)
    assert not second.done() and slots.in_use == 1  # two slots idle, and still it waits
    await slots.acquire("other")  # another owner is not held up by the capped one's waiter
    await slots.acquire("other")
    assert slots.in_use == 3 and slots.held_by("capped") == 1
    slots.release("other")  # a free slot, but the capped owner still holds its one
    await asyncio.sleep(0)
    assert not second.done() and slots.in_use == 2
    slots.release("capped")  # its own slot frees: its waiter takes it
    await asyncio.sleep(0)
    assert second.done() and slots.held_by("capped") == 1 and slots.in_use == 2
    slots.caps = {"capped": 2}.get  # a changed keys file applies to the next turn
    await asyncio.wait_for(slots.acquire("capped"), 1)
    assert slots.held_by("capped") == 2


async def test_a_capped_owner_is_refused_when_its_own_backlog_is_too_long():
    slots = BoundedSlots(3, None, 2.0, what="browser slot", typical_hold_s=1.5)
    slots.caps = {"capped": 1}.get
    await slots.acquire("capped")
    first = asyncio.create_task(slots.acquire("capped"))  # waits about 1.5 s: fine
    await asyncio.sleep(0)
    with pytest.raises(errors.PoolExhausted) as refused:  # would wait about 3 s
        await slots.acquire("capped")
    assert "may hold 1 browser slot at once" in refused.value.message
    assert refused.value.retry_after >= 1
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    assert slots.waiting == 0 and slots.in_use == 1


async def test_a_waiter_that_gives_up_leaves_no_slot_behind():
    slots = BoundedSlots(1, None, 0.05, what="slot", typical_hold_s=0.01)
    await slots.acquire("a")
    with pytest.raises(errors.PoolExhausted):
        await slots.acquire("b")  # its wait runs out
    cancelled = asyncio.create_task(slots.acquire("c"))
    await asyncio.sleep(0)
    cancelled.cancel()
    slots.release("a")  # would have gone to c, which is gone
    await asyncio.gather(cancelled, return_exceptions=True)
    assert slots.in_use == 0 and slots.waiting == 0
    await slots.acquire("d")
    assert slots.held_by("d") == 1


async def test_a_flood_of_refusals_does_not_push_retry_after_out_without_end():
    """Ten thousand refused requests that never come back: the next one is still told to
    return no later than the wait ahead of it plus ten queue timeouts."""
    slots = BoundedSlots(2, waiting=None, wait_s=1.0, what="test slot", typical_hold_s=1.0)
    await slots.acquire()
    await slots.acquire()
    waiters = [asyncio.create_task(slots.acquire()) for _ in range(2)]
    await asyncio.sleep(0)
    tickets = []
    for _ in range(10_000):
        with pytest.raises(errors.PoolExhausted) as refused:
            await slots.acquire()
        tickets.append(refused.value.retry_after)
    expected = slots.expected_wait()  # 1.5 s: two waiting and itself, per two slots
    assert max(tickets) <= math.ceil(expected + RETRY_HORIZON * 1.0) and tickets[0] == 1
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
