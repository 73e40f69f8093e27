"""One check of a monitor, and what follows from it: the capture through the one road, the
comparison with the baseline (and the confirm rule), the record, up and down, the events and
the webhooks. :class:`~screenshotd.core.monitors.service.Monitors` runs checks on its schedule;
this is what each one does (see that module for the rules)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from screenshotd import errors
from screenshotd.auth.callers import Caller
from screenshotd.core.jobs import road
from screenshotd.core.jobs.records import iso
from screenshotd.core.jobs.webhooks import Delivery, WebhookSender
from screenshotd.core.monitors import compare
from screenshotd.core.monitors.model import Check, Monitor, capture_defaults
from screenshotd.core.monitors.redis_store import RedisMonitorStore
from screenshotd.core.monitors.store import MonitorStore
from screenshotd.core.results import CaptureResult
from screenshotd.core.service import ScreenshotService
from screenshotd.params.capture import CaptureOptions

log = logging.getLogger(__name__)

#: Errors that are the service's own refusals, not the page's failures.
REFUSALS = ("RATE_LIMITED", "QUOTA_EXCEEDED", "POOL_EXHAUSTED", "SHUTDOWN", "JOBS_UNAVAILABLE",
            "UNAUTHORIZED", "DOMAIN_NOT_ALLOWED")


class Checks:
    """The checking half of :class:`~screenshotd.core.monitors.service.Monitors`."""

    service: ScreenshotService
    store: MonitorStore | RedisMonitorStore
    webhooks: WebhookSender
    caller_for: Callable[[str], Caller]
    link: Callable[[str, str], str]
    clock: Callable[[], float]
    counts: dict[str, int]
    _open: bool
    _checks_running: int
    _baselines: dict[str, tuple[str, bytes]]
    _listeners: dict[str, set[asyncio.Queue[tuple[str, dict[str, Any]]]]]

    def _spawn(self, coro: Any) -> None:
        raise NotImplementedError

    async def _check_once(self, monitor: Monitor, check_id: str) -> None:
        self._checks_running += 1
        try:
            await self._check_running(monitor, check_id)
        finally:
            self._checks_running -= 1

    async def _check_running(self, monitor: Monitor, check_id: str) -> None:
        started = self.clock()
        check = Check(check_id, monitor.id, started, "failed",
                      baseline_id=monitor.baseline_check)
        result: CaptureResult | None = None
        counted = True
        try:
            result = await self._capture(monitor)
            check.http_status, check.load_ms = result.http_status, result.render_time_ms
            check.width, check.height = result.width, result.height
            await self._compare(monitor, check, result)
        except errors.ScreenshotError as exc:
            check.status = "failed"
            check.error_code, check.error_message = exc.code, exc.message
            if isinstance(exc, errors.UpstreamStatus):
                check.http_status = exc.upstream_status
            counted = exc.code not in REFUSALS
            if result is not None and exc.code == "STORAGE_UNAVAILABLE":
                check.has_image = False
        await self._record(monitor, check, counted)

    def _options(self, monitor: Monitor) -> CaptureOptions:
        capture = monitor.capture
        params: dict[str, Any] = {**capture, **capture_defaults(capture), "url": monitor.url,
                                  "cache": False, "fail_on_status": "4xx,5xx"}
        if monitor.ignore:
            params["redact"] = list(monitor.ignore)
            params["redact_mode"] = "block"
        return self.service.parse(params)

    async def _capture(self, monitor: Monitor) -> CaptureResult:
        opts = self._options(monitor)
        caller = self.caller_for(monitor.owner)
        await self.service.admit(caller, [opts])
        await caller.charge()
        return await road.capture(self.service, opts, monitor.owner, lambda: self._open)

    async def _compare(self, monitor: Monitor, check: Check, result: CaptureResult) -> None:
        baseline = await self._baseline(monitor)
        if baseline is None:
            check.status, check.baseline_id = "baseline", None
            await self.store.put_image(monitor.id, check.id, "shot", result.data)
            check.has_image = True
            check.changed_pixels, check.changed_fraction = 0, 0.0
            monitor.baseline_check = check.id
            self._remember(monitor.id, check.id, result.data)
            return
        if result.data == baseline:
            # the same bytes are the same picture (Chromium encodes the same pixels the same
            # way): unchanged, and the baseline's image is this capture's too
            check.status, check.changed_pixels, check.changed_fraction = "unchanged", 0, 0.0
            return
        found = await self._differ(baseline, result.data, monitor)
        if found.fraction > monitor.threshold and monitor.confirm:
            again = await self._capture(monitor)
            found = await self._differ(baseline, again.data, monitor)
            result = again
            check.width, check.height = again.width, again.height
        check.changed_pixels = found.changed_pixels
        check.changed_fraction = round(found.fraction, 6)
        await self.store.put_image(monitor.id, check.id, "shot", result.data)
        check.has_image = True
        if found.fraction > monitor.threshold:
            check.status, check.regions = "changed", found.regions
            await self.store.put_image(monitor.id, check.id, "diff", found.diff_png)
            check.has_diff = True
            if monitor.baseline == "previous":
                monitor.baseline_check = check.id
                self._remember(monitor.id, check.id, result.data)
        else:
            check.status = "unchanged"

    async def _baseline(self, monitor: Monitor) -> bytes | None:
        if monitor.baseline_check is None:
            return None
        known = self._baselines.get(monitor.id)
        if known is not None and known[0] == monitor.baseline_check:
            return known[1]
        data = await self.store.image(monitor.id, monitor.baseline_check, "shot")
        if data is not None:
            self._remember(monitor.id, monitor.baseline_check, data)
        return data

    def _remember(self, monitor_id: str, check_id: str, data: bytes) -> None:
        if len(self._baselines) >= 256 and monitor_id not in self._baselines:
            self._baselines.pop(next(iter(self._baselines)))
        self._baselines[monitor_id] = (check_id, data)

    async def _differ(self, baseline: bytes, data: bytes,
                      monitor: Monitor) -> compare.Comparison:
        """The comparison with the baseline (a change's diff image is drawn; no other)."""
        if data == baseline:
            width, height = compare.size(data)
            return compare.Comparison(0, width * height)
        return await asyncio.to_thread(compare.compare, baseline, data, monitor.pixel_threshold,
                                       min_fraction=monitor.threshold)

    async def _record(self, monitor: Monitor, check: Check, counted: bool) -> None:
        await self.store.add_check(check)
        self.counts["checks"] += 1
        events: list[str] = []
        if check.ok:
            if monitor.health == "down":
                events.append("recovered")
            monitor.health, monitor.failures_in_row = "up", 0
            if check.status == "changed":
                monitor.last_change = check.id
                events.append("changed")
                self.counts["changed"] += 1
        else:
            self.counts["failed"] += 1
            if counted:
                monitor.failures_in_row += 1
                if monitor.health != "down" and monitor.failures_in_row >= monitor.down_after:
                    monitor.health = "down"
                    events.append("down")
        monitor.last_check = check.id
        # the previous latest, if unchanged, keeps its figures only
        kept = monitor.kept_latest
        if kept is not None and kept not in (monitor.baseline_check, monitor.last_change):
            await self.store.forget_image(monitor.id, kept)
        monitor.kept_latest = check.id if (check.status == "unchanged" and check.has_image) \
            else None
        self._links(monitor, check)
        self._emit(monitor, "check", check)
        for event in events:
            self._emit(monitor, event, check)
            self._webhook(monitor, event, check)

    async def _check(self, monitor: Monitor, check_id: str | None) -> Check | None:
        if check_id is None:
            return None
        check = await self.store.check(monitor.id, check_id)
        if check is not None:
            self._links(monitor, check)
        return check

    def _links(self, monitor: Monitor, check: Check) -> None:
        base = monitor.base_url
        path = f"/links/monitors/{monitor.id}/{check.id}"
        check.links = {
            "screenshot": self.link(base, f"{path}/shot.png") if check.has_image else None,
            "diff": self.link(base, f"{path}/diff.png") if check.has_diff else None}

    def _emit(self, monitor: Monitor, event: str, check: Check) -> None:
        """An event to the monitor's listeners: on this process, or, with Redis, on every
        replica (through Redis, and back here by :meth:`_relay`)."""
        data = {"monitor_id": monitor.id, "state": monitor.state, "check": check.to_json()}
        if isinstance(self.store, RedisMonitorStore):
            self._spawn(self._publish(monitor.id, event, data))
        else:
            self._hand(monitor.id, event, data)

    async def _publish(self, monitor_id: str, event: str, data: dict[str, Any]) -> None:
        try:
            assert isinstance(self.store, RedisMonitorStore)
            await self.store.publish(monitor_id, event, data)
        except errors.StorageUnavailable:
            self._hand(monitor_id, event, data)  # this replica's listeners, at least

    def _hand(self, monitor_id: str, event: str, data: dict[str, Any]) -> None:
        for queue in self._listeners.get(monitor_id, ()):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait((event, data))

    async def _relay(self) -> None:
        """With Redis: every replica's events, to this replica's listeners."""
        assert isinstance(self.store, RedisMonitorStore)
        while self._open:
            try:
                async for monitor_id, event, data in self.store.subscribe():
                    self._hand(monitor_id, event, data)
            except errors.StorageUnavailable as exc:
                log.warning("monitor events: %s", exc.message)
                await asyncio.sleep(1)

    def _webhook(self, monitor: Monitor, event: str, check: Check) -> None:
        if not monitor.webhook_url:
            return
        delivery = Delivery(monitor.webhook_url, monitor.webhook_secret,
                            f"msg_{check.id}_{event}")
        body = {"type": f"monitor.{event}", "at": iso(check.at),
                "monitor": {"id": monitor.id, "name": monitor.name, "url": monitor.url,
                            "state": monitor.state},
                "check": check.to_json()}
        payload = json.dumps(body, separators=(",", ":")).encode()
        self._spawn(self.webhooks.deliver(delivery, payload))
