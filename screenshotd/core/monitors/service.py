"""Monitors: captures on a schedule, compared with a baseline, with up and down.

:class:`Monitors` owns the store, the schedule and the checks:

- **The schedule.** Each monitor is due once per ``every``. Its first check comes within
  ``min(every, 30)`` seconds of its creation, at a random offset, so that monitors made together
  do not fire together; each next one is its due time plus ``every`` (a check that ran late does
  not move the cadence; missed times are skipped, not run in a burst). A due monitor is claimed
  with a lease (:meth:`MonitorStore.claim_due`): it runs once, and a process that dies mid-check
  leaves a lease that runs out, so the check runs after a restart.
- **The background class.** A check waits until no interactive request waits for a browser
  slot, and checks take at most a third of the slots at once (at least one): an interactive
  capture is not queued behind monitor checks, and keeps most of the CPU.
- **A check** is a capture through the one road: the owner's domains and the guard
  (``service.admit``), its rate limit and quota (``charge``), then the pool. It always runs with
  ``animations=disabled``, the stability wait and a hidden caret unless the monitor says
  otherwise, ``ignore``'s selectors masked, the cache off, and the main document's 4xx and 5xx
  counted as failures.
- **The comparison** (:mod:`.compare`): a change above ``threshold`` is captured once more and
  compared again before it counts (``confirm``). A failed check is never unchanged and never a
  baseline. With ``baseline=previous`` a confirmed change becomes the new baseline; ``pinned``
  keeps the one pinned.
- **Up and down.** ``down_after`` failures in a row make the monitor ``down`` (``monitor.down``);
  the next success is ``monitor.recovered``. A check the service itself refused (the owner's
  rate limit or quota, a full pool, a shutdown) is recorded as failed but does not count
  towards ``down``: it says nothing of the page.
- **Images.** The baseline, the latest capture, changes (with their diff) and failures keep
  their images; an unchanged check keeps its figures and loses its image when the next check
  comes. History older than ``MONITOR_HISTORY_DAYS`` is pruned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

from screenshotd import errors
from screenshotd.auth.callers import Caller
from screenshotd.core.jobs.webhooks import WebhookSender
from screenshotd.core.monitors.checks import Checks
from screenshotd.core.monitors.model import (
    DEFAULTS,
    Check,
    Monitor,
    Widget,
    new_id,
    read_request,
)
from screenshotd.core.monitors.redis_store import RedisMonitorStore
from screenshotd.core.monitors.store import MonitorStore
from screenshotd.core.service import ScreenshotService

log = logging.getLogger(__name__)

#: A claimed check's lease, renewed while it runs: a process that dies mid-check lets another
#: take the check this long after.
LEASE_S = 6.0
RENEW_EVERY_S = 2.0
#: The longest the scheduler sleeps without looking (a new monitor wakes it at once).
IDLE_S = 30.0
PRUNE_EVERY_S = 3600.0


def following(due: float, every: float, now: float) -> float:
    """The next time of a cadence that was due at ``due``: one ``every`` later, or, when that
    has passed too, the first time of the cadence after ``now`` (missed times are skipped)."""
    due += every
    if due <= now:
        due += every * ((now - due) // every + 1)
    return due


class Monitors(Checks):
    """The monitors of one service. ``caller_for`` gives the metered caller of an owner id;
    ``link`` turns a path into a signed absolute URL under a base URL."""

    def __init__(self, service: ScreenshotService, store: MonitorStore | RedisMonitorStore,
                 webhooks: WebhookSender,
                 *, caller_for: Callable[[str], Caller], link: Callable[[str, str], str],
                 min_every: int, history_days: int, max_per_caller: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.store = store
        self.webhooks = webhooks
        self.caller_for = caller_for
        self.link = link
        self.min_every = min_every
        self.history_days = history_days
        self.max_per_caller = max_per_caller
        self.clock = clock
        slots = service.pool.admission.slots if hasattr(service.pool.admission, "slots") else 3
        # the background class: at most a third of the slots (one of three), so that checks
        # leave interactive captures both slots and CPU
        self._slots = asyncio.Semaphore(max(1, slots // 3))
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._scheduler: asyncio.Task[None] | None = None
        self._relayer: asyncio.Task[None] | None = None
        self._listeners: dict[str, set[asyncio.Queue[tuple[str, dict[str, Any]]]]] = {}
        self._open = False
        self._checks_running = 0
        #: The latest baselines' bytes, by monitor: a check compares without reading a file.
        self._baselines: dict[str, tuple[str, bytes]] = {}
        self.counts = {"checks": 0, "changed": 0, "failed": 0}

    # ------------------------------------------------------------------ life cycle

    async def open(self) -> None:
        await self.store.open()
        self._open = True
        self._scheduler = asyncio.create_task(self._schedule(), name="monitor-scheduler")
        if isinstance(self.store, RedisMonitorStore):
            self._relayer = asyncio.create_task(self._relay(), name="monitor-events")

    async def close(self, grace: float = 10.0) -> None:
        self._open = False
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
        if self._relayer is not None:
            self._relayer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relayer
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        await self.store.close()

    # ------------------------------------------------------------------ the API

    async def create(self, caller: Caller, body: dict[str, Any], base_url: str) -> Monitor:
        if await self.store.count(caller.id) >= self._limit(caller):
            raise errors.ValidationError(
                f"this key has {self._limit(caller)} monitors, the most it may have "
                "(MAX_MONITORS_PER_CALLER); delete one first", field="monitors")
        own, capture = read_request(body, min_every=self.min_every,
                                    check_capture=self.service.parse)
        await self._door(caller, own, capture)
        now = self.clock()
        settings = {**DEFAULTS, **{k: v for k, v in own.items() if k != "url"}}
        monitor = Monitor(new_id("mon"), caller.id, own["url"], capture, now, now,
                          now + random.uniform(0, min(settings["every"], 30)),
                          base_url=base_url, **settings)
        await self.store.save(monitor)
        self._wake.set()
        return monitor

    async def update(self, caller: Caller, monitor_id: str, body: dict[str, Any]) -> Monitor:
        monitor = await self.store.get(caller.id, monitor_id)
        own, capture = read_request(body, min_every=self.min_every,
                                    check_capture=self.service.parse, current=monitor)
        await self._door(caller, {"url": own.get("url", monitor.url), **own}, capture)
        for name, value in own.items():
            setattr(monitor, name, value)
        changed_page = "url" in own or capture != monitor.capture
        monitor.capture = capture
        if changed_page and monitor.baseline == "previous":
            monitor.baseline_check = None  # a new page or capture: the next check is its baseline
        monitor.updated_at = self.clock()
        if "every" in own:
            monitor.next_check_at = min(monitor.next_check_at, self.clock() + monitor.every)
        await self.store.save(monitor)
        self._wake.set()
        return monitor

    async def delete(self, caller: Caller, monitor_id: str) -> None:
        await self.store.get(caller.id, monitor_id)
        await self.store.delete(monitor_id)

    async def get(self, caller: Caller, monitor_id: str) -> Monitor:
        return await self.store.get(caller.id, monitor_id)

    async def describe(self, monitor: Monitor) -> dict[str, Any]:
        """The monitor's JSON: its settings, state, last check, last change and uptime."""
        last = await self._check(monitor, monitor.last_check)
        change = await self._check(monitor, monitor.last_change)
        return monitor.to_json({"last": last, "change": change},
                               await self.store.uptime(monitor.id, self.clock()))

    async def check_now(self, caller: Caller, monitor_id: str) -> str:
        """Start a check at once, paused or not; its id. ``409 NOT_READY`` while one runs
        (scheduled or asked for): nothing is queued behind it."""
        monitor = await self.store.get(caller.id, monitor_id)
        if not await self.store.claim(monitor.id, self.clock(), LEASE_S):
            raise errors.NotReady(f"monitor {monitor_id} is being checked now; try again "
                                  "when it is done", retry_after=1)
        check_id = new_id("chk")
        self._spawn(self._run(monitor, check_id, scheduled=False))
        return check_id

    async def pin(self, caller: Caller, monitor_id: str) -> Monitor:
        """The latest successful capture becomes the baseline (and stays: ``pinned``)."""
        monitor = await self.store.get(caller.id, monitor_id)
        good = [c for c in await self.store.checks(monitor.id, 50) if c.ok and c.has_image]
        if not good:
            raise errors.NotReady(f"monitor {monitor_id} has no successful capture to pin yet",
                                  retry_after=max(1, int(monitor.next_check_at - self.clock())))
        monitor.baseline_check = good[0].id
        monitor.baseline = "pinned"
        monitor.updated_at = self.clock()
        await self.store.save(monitor)
        return monitor

    async def history(self, monitor: Monitor, limit: int,
                      before: float | None) -> list[Check]:
        checks = await self.store.checks(monitor.id, limit, before)
        for check in checks:
            self._links(monitor, check)
        return checks

    async def add_widget(self, caller: Caller, monitor_id: str) -> Widget:
        monitor = await self.store.get(caller.id, monitor_id)
        widget = Widget(new_id("wt"), monitor.id, caller.id, self.clock())
        await self.store.add_widget(widget)
        return widget

    async def by_token(self, token: str) -> tuple[Monitor, Widget]:
        """The monitor a widget token opens; NOT_FOUND for an unknown or revoked one."""
        widget = await self.store.widget(token) if token.startswith("wt_") else None
        if widget is None:
            raise errors.NotFound("no such widget")
        try:
            return await self.store.get(None, widget.monitor_id), widget
        except errors.NotFound:
            raise errors.NotFound("no such widget") from None

    async def events(self, monitor: Monitor) -> AsyncGenerator[tuple[str, dict[str, Any]], None]:
        """The monitor's events as they happen: ``check``, ``changed``, ``down``,
        ``recovered``."""
        queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(maxsize=100)
        self._listeners.setdefault(monitor.id, set()).add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            listeners = self._listeners.get(monitor.id, set())
            listeners.discard(queue)
            if not listeners:
                self._listeners.pop(monitor.id, None)

    # ------------------------------------------------------------------ the schedule

    async def _schedule(self) -> None:
        next_prune = self.clock()
        while self._open:
            try:
                now = self.clock()
                if now >= next_prune:
                    await self._prune(now)
                    next_prune = now + PRUNE_EVERY_S
                for monitor in await self.store.claim_due(now, LEASE_S, 50):
                    # one id for one due time: a check run again after its process died
                    # replaces its first record instead of adding a second
                    check_id = f"chk_{monitor.id[4:]}{int(monitor.next_check_at * 1000):x}"
                    self._spawn(self._run(monitor, check_id, scheduled=True))
                due = await self.store.next_due()
                wait = IDLE_S if due is None else min(IDLE_S, max(0.05, due - self.clock()))
            except errors.StorageUnavailable as exc:
                log.warning("monitor schedule: %s", exc.message)
                wait = 5.0
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, monitor: Monitor, check_id: str, *, scheduled: bool) -> None:
        due = monitor.next_check_at
        keeper = asyncio.create_task(self._keep_lease(monitor.id))
        try:
            async with self._slots:
                await self._background_turn()
                started = time.monotonic()
                await self._check_once(monitor, check_id)
                await self._pace(time.monotonic() - started)
        except Exception:
            log.exception("monitor %s: check %s crashed", monitor.id, check_id)
        finally:
            keeper.cancel()
            if scheduled:
                monitor.next_check_at = following(due, monitor.every, self.clock())
            with contextlib.suppress(errors.StorageUnavailable):
                await self.store.complete(monitor, (
                    "next_check_at", "health", "failures_in_row", "baseline_check",
                    "last_check", "last_change", "kept_latest"))
            self._wake.set()

    async def _pace(self, took: float) -> None:
        """While interactive captures run, a check's slot rests as long as the check took
        before the next check may start: checks then take at most about a third of the CPU."""
        admission = self.service.pool.admission
        ours = self._checks_running
        if getattr(admission, "waiting", 0) or getattr(admission, "in_use", 0) > ours:
            await asyncio.sleep(min(took, 2.0))

    async def _keep_lease(self, monitor_id: str) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY_S)
            with contextlib.suppress(errors.StorageUnavailable):
                await self.store.renew(monitor_id, LEASE_S, self.clock())

    async def _background_turn(self) -> None:
        """Wait while interactive requests wait for a browser slot (at most a minute)."""
        admission = self.service.pool.admission
        for _ in range(1200):  # 60 s of 50 ms looks
            if not getattr(admission, "waiting", 0):
                return
            await asyncio.sleep(0.05)

    async def _prune(self, now: float) -> None:
        """Forget the checks older than ``MONITOR_HISTORY_DAYS``, but every monitor's baseline,
        latest check and latest change."""
        await self.store.prune(now - self.history_days * 86400, await self.store.referenced())

    async def _door(self, caller: Caller, own: dict[str, Any], capture: dict[str, Any]) -> None:
        """The owner may capture this page, and the guard lets it and the webhook through."""
        opts = self.service.parse({**capture, "url": own.get("url")})
        await self.service.admit(caller, [opts])
        if own.get("webhook_url"):
            try:
                await self.service.guard.check_url(own["webhook_url"])
            except errors.Blocked as exc:
                raise exc.naming("webhook_url") from None

    def _limit(self, caller: Caller) -> int:
        own = getattr(caller, "max_monitors", None)
        return int(own) if own is not None else self.max_per_caller
