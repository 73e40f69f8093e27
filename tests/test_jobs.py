"""The job manager on its own: a fake capture road, an injected clock, no browser.

The real road (Chromium, webhooks over HTTP, SSE) is in tests/integration/test_jobs.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from screenshotd import errors
from screenshotd.auth.callers import Caller
from screenshotd.auth.ratelimit import MemoryLimiter
from screenshotd.core.jobs.manager import JobManager
from screenshotd.core.jobs.records import JobState
from screenshotd.core.results import CaptureResult
from screenshotd.params.capture import CaptureOptions


class FakeService:
    """Stands in for ScreenshotService.admit and .screenshot: a URL listed in ``gates`` waits for its
    event; one in ``failures`` raises; anything else returns a result of ``size`` bytes."""

    guard: Any = None
    results: Any = None  # no result storage

    def __init__(self, size: int = 100) -> None:
        self.size = size
        self.gates: dict[str, asyncio.Event] = {}
        self.failures: dict[str, list[BaseException]] = {}
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self.detach: list[bool] = []
        self.admitted: list[tuple[str, str | None]] = []
        self.callers: list[Caller] = []

    async def admit(self, caller: Caller, pages: list[CaptureOptions | None],
                    fields: tuple[str, ...] = (), batch: bool = False) -> None:
        self.admitted.extend((caller.id, page and page.url) for page in pages)

    async def screenshot(self, opts: CaptureOptions, caller: Caller, *,
                         detach: bool = True) -> CaptureResult:
        url = opts.url or ""
        self.started.append(url)
        self.callers.append(caller)
        self.detach.append(detach)
        try:
            if url in self.gates:
                await self.gates[url].wait()
        except asyncio.CancelledError:
            self.cancelled.append(url)
            raise
        if self.failures.get(url):
            raise self.failures[url].pop(0)
        return CaptureResult(data=b"x" * self.size, format="png", content_type="image/png",
                             width=10, height=10, render_time_ms=1, truncated=False,
                             cache_key="0" * 64, url=url, final_url=url, http_status=200)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def opts(path: str = "a", **extra: Any) -> CaptureOptions:
    return CaptureOptions.parse({"url": f"https://example.com/{path}", **extra})


async def manager(service: FakeService, **overrides: Any) -> JobManager:
    settings: dict[str, Any] = {"workers": 1, "ttl": 3600, "max_pending": 10,
                                "max_queued": 100, "max_bytes": 10_000, "grace": 1.0}
    settings.update(overrides)
    jobs = JobManager(service, **settings)  # type: ignore[arg-type]
    await jobs.open()
    return jobs


async def settle(job: Any, within: float = 5) -> None:
    await asyncio.wait_for(job.done.wait(), within)


async def until(condition: Any, within: float = 5) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.005)


async def test_a_submission_passes_the_door_and_is_charged_once():
    service = FakeService()
    jobs = await manager(service)
    metered = Caller("ip:m", limiter=MemoryLimiter(3, clock=lambda: 90.0))
    job = await jobs.submit(metered, opts("one"), "http://s")
    assert service.admitted == [("ip:m", "https://example.com/one")]
    await settle(job)
    # charged at submission: the job runs as its owner, unmetered
    assert [c.limiter for c in service.callers] == [None] and service.callers[0].id == "ip:m"
    invalid = errors.ValidationError("bad item", field="url")
    batch = await jobs.submit_batch(metered, [opts("two"), invalid, opts("three")], "http://s")
    assert len(batch.jobs) == 3  # two renders charged: the invalid item costs nothing
    with pytest.raises(errors.RateLimited):
        await jobs.submit(metered, opts("four"), "http://s")
    assert jobs.list_jobs("ip:m", None, 1, 20)[1] == 4  # the refused one was not queued
    assert service.admitted[1:4] == [("ip:m", "https://example.com/two"), ("ip:m", None),
                                    ("ip:m", "https://example.com/three")]
    await jobs.close()


async def test_a_job_runs_through_the_service_and_keeps_its_result():
    service = FakeService(size=123)
    jobs = await manager(service)
    job = await jobs.submit(Caller("ip:a"), opts(), "http://s")
    assert job.status is JobState.QUEUED
    await settle(job)
    assert job.status is JobState.COMPLETED and job.result is not None
    assert job.result.size == 123
    body = job.to_json()
    assert body["result_url"] == f"http://s/jobs/{job.id}/result"
    assert body["metadata"]["size"] == 123 and body["error"] is None
    assert body["started_at"] <= body["completed_at"]
    assert service.detach == [False]  # a job's capture stops when it is cancelled
    await jobs.close()


async def test_a_failed_job_keeps_its_error_code_and_message():
    service = FakeService()
    service.failures["https://example.com/a"] = [errors.NavigationFailed("ERR_NAME_NOT_RESOLVED")]
    jobs = await manager(service)
    job = await jobs.submit(Caller("ip:a"), opts(), "http://s")
    await settle(job)
    assert job.status is JobState.FAILED
    assert job.to_json()["error"] == {"code": "NAVIGATION_FAILED",
                                      "message": "ERR_NAME_NOT_RESOLVED"}
    assert job.to_json()["result_url"] is None
    assert job.error is not None and job.error.__traceback__ is None  # no frames kept alive
    await jobs.close()


async def test_a_full_pool_is_waited_out_and_one_crash_retried():
    service = FakeService()
    service.failures["https://example.com/a"] = [
        errors.PoolExhausted("busy", retry_after=1), errors.BrowserCrashed("gone")]
    jobs = await manager(service)
    job = await jobs.submit(Caller("ip:a"), opts(), "http://s")
    await settle(job, within=10)
    assert job.status is JobState.COMPLETED
    assert len(service.started) == 3
    await jobs.close()


async def test_jobs_expire_ttl_after_they_finish_by_the_injected_clock():
    clock = Clock()
    jobs = await manager(FakeService(), ttl=60, clock=clock)
    job = await jobs.submit(Caller("ip:a"), opts(), "http://s")
    await settle(job)
    assert job.to_json()["expires_at"] == "2027-01-15T08:01:00.000Z"
    clock.now += 59
    assert jobs.get("ip:a", job.id) is job
    clock.now += 1
    with pytest.raises(errors.NotFound):
        jobs.get("ip:a", job.id)
    assert jobs.list_jobs("ip:a", None, 1, 20) == ([], 0)
    assert jobs.health()["expired"] == 1 and jobs.health()["kept"] == 0
    await jobs.close()


async def test_results_over_the_byte_bound_push_out_the_oldest_finished_jobs():
    jobs = await manager(FakeService(size=4000), max_bytes=10_000)
    done = []
    for n in range(4):
        job = await jobs.submit(Caller("ip:a"), opts(str(n)), "http://s")
        await settle(job)
        done.append(job)
    kept = [job.id for job in jobs.list_jobs("ip:a", None, 1, 20)[0]]
    assert kept == [done[3].id, done[2].id]  # 8000 bytes; the two oldest went
    assert jobs.health()["result_bytes"] == 8000 and jobs.health()["evicted"] == 2
    await jobs.close()


async def test_a_finished_jobs_html_counts_toward_the_byte_bound():
    jobs = await manager(FakeService(size=100), max_bytes=10_000)
    job = await jobs.submit(Caller("ip:a"), CaptureOptions.parse({"html": "<p>" + "x" * 5000}), "http://s")
    await settle(job)
    assert jobs.health()["result_bytes"] == 100 + 5003
    await jobs.close()


async def test_the_pending_limit_is_per_caller_and_a_batch_counts_once():
    service = FakeService()
    gate = service.gates["https://example.com/slow"] = asyncio.Event()
    jobs = await manager(service, max_pending=2)
    await jobs.submit(Caller("ip:a"), opts("slow"), "http://s")
    await jobs.submit_batch(Caller("ip:a"), [opts("slow"), opts("slow"), opts("slow")], "http://s")
    with pytest.raises(errors.RateLimited) as refused:
        await jobs.submit(Caller("ip:a"), opts("slow"), "http://s")
    assert refused.value.status == 429 and refused.value.retry_after >= 1
    await jobs.submit(Caller("ip:b"), opts("slow"), "http://s")  # another caller is not affected
    gate.set()
    await until(lambda: jobs.health()["queued"] == 0 and jobs.health()["processing"] == 0)
    await jobs.submit(Caller("ip:a"), opts("slow"), "http://s")  # room again once they finished
    await jobs.close()


async def test_the_whole_queue_is_bounded():
    service = FakeService()
    service.gates["https://example.com/slow"] = asyncio.Event()
    jobs = await manager(service, max_pending=100, max_queued=3)
    for _ in range(4):  # one processing, three queued
        await jobs.submit(Caller("ip:a"), opts("slow"), "http://s")
        await asyncio.sleep(0.01)
    with pytest.raises(errors.PoolExhausted) as refused:
        await jobs.submit(Caller("ip:b"), opts("slow"), "http://s")
    assert refused.value.status == 503
    await jobs.close()


async def test_callers_are_served_in_turn():
    service = FakeService()
    gate = service.gates["https://example.com/first"] = asyncio.Event()
    jobs = await manager(service, max_pending=100)
    await jobs.submit(Caller("ip:a"), opts("first"), "http://s")
    await until(lambda: service.started)
    for n in range(3):
        await jobs.submit(Caller("ip:a"), opts(f"a{n}"), "http://s")
    await jobs.submit(Caller("ip:b"), opts("b0"), "http://s")
    await jobs.submit(Caller("ip:c"), opts("c0"), "http://s")
    gate.set()
    await until(lambda: len(service.started) == 6)
    assert [u.rsplit("/", 1)[1] for u in service.started] == ["first", "a0", "b0", "c0", "a1", "a2"]
    await jobs.close()


async def test_while_another_caller_waits_one_caller_takes_at_most_its_share_of_workers():
    service = FakeService()
    gates = {n: service.gates.setdefault(f"https://example.com/a{n}", asyncio.Event())
             for n in range(4)}
    jobs = await manager(service, workers=3, per_owner=2, max_pending=100)
    for n in range(3):  # alone, a caller may take every worker
        await jobs.submit(Caller("ip:a"), opts(f"a{n}"), "http://s")
    await until(lambda: len(service.started) == 3)
    await jobs.submit(Caller("ip:a"), opts("a3"), "http://s")  # a's turn comes first...
    await jobs.submit(Caller("ip:b"), opts("b0"), "http://s")
    gates[0].set()
    await until(lambda: len(service.started) >= 4)
    # ...but a still holds its share of 2 while b waits: the free worker goes to b (and a3
    # starts when b0, which is not gated, is done)
    assert service.started[3].endswith("/b0")
    await until(lambda: len(service.started) == 5)
    assert service.started[4].endswith("/a3")
    for gate in gates.values():
        gate.set()
    await jobs.close()


async def test_cancelling_a_queued_job_never_runs_it():
    service = FakeService()
    gate = service.gates["https://example.com/slow"] = asyncio.Event()
    jobs = await manager(service)
    await jobs.submit(Caller("ip:a"), opts("slow"), "http://s")
    queued = await jobs.submit(Caller("ip:a"), opts("never"), "http://s")
    cancelled = await jobs.cancel("ip:a", queued.id)
    assert cancelled.status is JobState.CANCELLED
    assert cancelled.to_json()["error"]["code"] == "CANCELLED"
    gate.set()
    await until(lambda: jobs.health()["processing"] == 0 and jobs.health()["queued"] == 0)
    assert "https://example.com/never" not in service.started
    with pytest.raises(errors.JobFinished):
        await jobs.cancel("ip:a", queued.id)
    await jobs.close()


async def test_cancelling_a_running_job_cancels_its_capture():
    service = FakeService()
    service.gates["https://example.com/slow"] = asyncio.Event()
    jobs = await manager(service)
    job = await jobs.submit(Caller("ip:a"), opts("slow"), "http://s")
    await until(lambda: service.started)
    assert jobs.health()["processing"] == 1 and jobs.health()["queued"] == 0
    await jobs.cancel("ip:a", job.id)
    assert job.status is JobState.CANCELLED
    assert jobs.health()["processing"] == 0 and jobs.health()["cancelled"] == 1
    assert service.cancelled == ["https://example.com/slow"]
    # the worker is free for the next job
    after = await jobs.submit(Caller("ip:a"), opts("next"), "http://s")
    await settle(after)
    assert after.status is JobState.COMPLETED
    await jobs.close()


async def test_one_caller_never_sees_another_callers_jobs():
    jobs = await manager(FakeService())
    mine = await jobs.submit(Caller("key:alice"), opts(), "http://s")
    batch = await jobs.submit_batch(Caller("key:alice"), [opts()], "http://s")
    for call in (lambda: jobs.get("key:bob", mine.id),
                 lambda: jobs.get_batch("key:bob", batch.id)):
        with pytest.raises(errors.NotFound):
            call()
    with pytest.raises(errors.NotFound):
        await jobs.cancel("key:bob", mine.id)
    assert jobs.list_jobs("key:bob", None, 1, 20) == ([], 0)
    assert jobs.list_jobs("key:alice", None, 1, 20)[1] == 2
    await jobs.close()


async def test_listing_is_newest_first_paginated_and_filtered():
    service = FakeService()
    service.failures["https://example.com/bad"] = [errors.NavigationFailed("no")]
    jobs = await manager(service, max_pending=100)
    made = [await jobs.submit(Caller("ip:a"), opts("bad" if n == 2 else str(n)), "http://s") for n in range(5)]
    for job in made:
        await settle(job)
    page1, total = jobs.list_jobs("ip:a", None, 1, 2)
    page3, _ = jobs.list_jobs("ip:a", None, 3, 2)
    assert total == 5
    assert [j.id for j in page1] == [made[4].id, made[3].id]
    assert [j.id for j in page3] == [made[0].id]
    failed, count = jobs.list_jobs("ip:a", JobState.FAILED, 1, 20)
    assert count == 1 and failed[0].id == made[2].id
    await jobs.close()


async def test_a_batch_item_that_did_not_validate_is_a_failed_job_in_its_place():
    jobs = await manager(FakeService())
    bad = errors.InvalidURL("url has no host", field="url")
    batch = await jobs.submit_batch(Caller("ip:a"), [opts("1"), bad, opts("2")], "http://s")
    assert batch.jobs[1].status is JobState.FAILED
    assert batch.jobs[1].to_json()["error"] == {"code": "INVALID_URL",
                                                "message": "url has no host", "field": "url"}
    for job in batch.jobs:
        await settle(job)
    assert batch.to_json()["counts"] == {"queued": 0, "processing": 0, "completed": 2,
                                         "failed": 1, "cancelled": 0}
    assert batch.to_json()["status"] == "completed"
    await jobs.close()


async def test_shutdown_fails_what_cannot_finish_with_shutdown_and_lets_the_rest_finish():
    service = FakeService()
    service.gates["https://example.com/stuck"] = asyncio.Event()
    quick = service.gates["https://example.com/quick"] = asyncio.Event()
    jobs = await manager(service, workers=2, grace=0.5)
    stuck = await jobs.submit(Caller("ip:a"), opts("stuck"), "http://s")
    finishing = await jobs.submit(Caller("ip:a"), opts("quick"), "http://s")
    queued = await jobs.submit(Caller("ip:a"), opts("later"), "http://s")
    await until(lambda: len(service.started) == 2)
    jobs.begin_shutdown()
    with pytest.raises(errors.ShuttingDown):
        await jobs.submit(Caller("ip:a"), opts(), "http://s")
    quick.set()  # finishes within the grace period
    await jobs.close()
    assert finishing.status is JobState.COMPLETED
    assert stuck.status is JobState.FAILED and stuck.error is not None
    assert stuck.error.code == "SHUTDOWN"
    assert queued.status is JobState.FAILED and queued.error is not None
    assert queued.error.code == "SHUTDOWN"
    assert "https://example.com/later" not in service.started
    assert service.cancelled == ["https://example.com/stuck"]
    assert jobs.state == "closed"
