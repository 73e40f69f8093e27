"""Kept pages and their owners (:mod:`screenshotd.browser.kept`): who takes which page, how
many each caller may have, and which goes past the bound. The pool's own use of it, with a real
Chromium, is in ``tests/integration/test_callers.py``."""

from __future__ import annotations

from typing import Any

from screenshotd.browser.kept import KeptPages
from screenshotd.browser.lease import PoolContext


def page() -> PoolContext:
    return PoolContext(context=Any, channel=None)  # type: ignore[arg-type]


def lend_and_return(kept: KeptPages, owner: str) -> PoolContext:
    fresh = page()
    kept.adopt(fresh, owner)
    kept.reset_started(fresh)
    kept.reset_ended(fresh)
    kept.put_back(fresh)
    return fresh


def test_a_page_goes_back_only_to_its_owner():
    kept = KeptPages()
    mine = lend_and_return(kept, "a")
    assert kept.take("b") is None
    assert kept.take("a") is mine and kept.take("a") is None
    assert kept.owned["a"] == 1 and kept.total == 1


def test_an_owner_takes_the_page_it_used_last():
    kept = KeptPages()
    older, newer = lend_and_return(kept, "a"), lend_and_return(kept, "a")
    assert kept.take("a") is newer and kept.take("a") is older


def test_allowance_leaves_one_page_to_every_other_owner():
    kept = KeptPages()
    assert kept.allowance("a", 4) == 4  # alone: every page
    lend_and_return(kept, "b")
    lend_and_return(kept, "c")
    assert kept.allowance("a", 4) == 2 and kept.allowance("b", 4) == 3
    for owner in "defgh":
        lend_and_return(kept, owner)
    assert kept.allowance("a", 4) == 1  # never none


def test_past_the_bound_the_biggest_owner_loses_its_least_recently_used_page():
    kept = KeptPages()
    first_a = lend_and_return(kept, "a")
    lend_and_return(kept, "b")
    lend_and_return(kept, "a")
    assert kept.victim(3) is None  # within the bound
    lend_and_return(kept, "c")
    assert kept.victim(3) is first_a  # a has the most
    assert kept.owned == {"a": 1, "b": 1, "c": 1} and kept.victim(3) is None


def test_when_everyone_has_one_the_caller_seen_least_recently_goes():
    kept = KeptPages()
    stale = lend_and_return(kept, "a")
    lend_and_return(kept, "b")
    lend_and_return(kept, "c")
    assert kept.victim(2) is stale and "a" not in kept.owned


def test_a_burst_never_takes_another_owners_last_page():
    """a's pages are all out (lent) when the bound is passed: b's and c's single pages stay,
    and a's next page back is the one closed."""
    kept = KeptPages()
    lend_and_return(kept, "b")
    lend_and_return(kept, "c")
    burst = []
    for _ in range(3):
        fresh = page()
        kept.adopt(fresh, "a")
        burst.append(fresh)
    assert kept.total == 5 and kept.victim(4) is None
    kept.put_back(burst[0])
    assert kept.victim(4) is burst[0]
    assert kept.owned == {"a": 2, "b": 1, "c": 1}


def test_dead_pages_are_taken_out_and_disowned():
    kept = KeptPages()
    alive, dying = lend_and_return(kept, "a"), lend_and_return(kept, "a")
    dying.crashed = True
    dying.page = object()  # type: ignore[assignment]
    assert kept.dead() == [dying] and kept.owned["a"] == 1 and kept.take("a") is alive


def test_lent_counts_an_owners_pages_in_captures():
    kept = KeptPages()
    idle = lend_and_return(kept, "a")
    out = lend_and_return(kept, "a")
    assert kept.lent("a") == 0 and kept.lent("b") == 0
    assert kept.take("a") is out
    assert kept.lent("a") == 1  # in a capture
    kept.reset_started(out)
    assert kept.lent("a") == 0 and kept.resetting["a"] == 1  # back, being reset
    kept.reset_ended(out)
    kept.put_back(out)
    assert kept.take("a") is out and kept.take("a") is idle and kept.lent("a") == 2
