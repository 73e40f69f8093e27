"""``GET /metrics``: Prometheus text format (prometheus-client), one registry per app.

Two kinds of figure:

- **Observed as they happen**, in prometheus-client's own types: each capture's outcome and
  code, its duration, and how long it waited for a pool slot (:meth:`Metrics.capture_done`,
  called by the service).
- **Read at scrape time** from the objects that already keep them (:class:`StateCollector`):
  cache hits, misses and 304s, pool slots and waiters, browser restarts, jobs by state, webhook
  deliveries, rate-limit refusals and HTTP responses by route and status. The hot paths pay
  nothing extra for these: the counters they already keep are read once per scrape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

CAPTURE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0)
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The registry and the figures observed as they happen."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.captures = Counter(
            "screenshotd_captures", "Captures (cache misses that rendered), by outcome and code.",
            ["outcome", "code"], registry=self.registry)
        self.capture_seconds = Histogram(
            "screenshotd_capture_duration_seconds",
            "Time from the start of a capture to its finished image, queue wait included.",
            buckets=CAPTURE_BUCKETS, registry=self.registry)
        self.queue_wait_seconds = Histogram(
            "screenshotd_queue_wait_seconds", "Time a capture waited for a pool slot.",
            buckets=WAIT_BUCKETS, registry=self.registry)
        self.stable_wait_seconds = Histogram(
            "screenshotd_stable_wait_seconds",
            "Time wait_for_stable waited for the page to stop moving, by whether it did.",
            ["stable"], buckets=WAIT_BUCKETS, registry=self.registry)

    def capture_done(self, seconds: float, code: str | None) -> None:
        """One capture ended: ``code`` None for success, else its error code."""
        self.captures.labels("ok" if code is None else "error", code or "OK").inc()
        self.capture_seconds.observe(seconds)

    def queue_waited(self, seconds: float) -> None:
        self.queue_wait_seconds.observe(seconds)

    def stable_waited(self, seconds: float, stable: bool) -> None:
        self.stable_wait_seconds.labels("true" if stable else "false").observe(seconds)

    def watch(self, source: Callable[[], dict[str, Any]]) -> None:
        """Export what ``source()`` reports at each scrape (see :class:`StateCollector`)."""
        self.registry.register(StateCollector(source))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class StateCollector(Collector):
    """Families built at scrape time from ``source()``: a dict with the keys ``cache``,
    ``pool``, ``browser``, ``jobs``, ``job_states``, ``webhooks``, ``rate_limited`` and
    ``responses`` (see :func:`app_state`)."""

    def __init__(self, source: Callable[[], dict[str, Any]]) -> None:
        self.source = source

    def describe(self) -> list[Metric]:
        return []  # built at scrape time; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        state = self.source()
        cache = CounterMetricFamily("screenshotd_cache_lookups",
                                    "Cache lookups by result: hit, miss or not_modified (304).",
                                    labels=["result"])
        for result, name in (("hit", "hits"), ("miss", "misses"),
                             ("not_modified", "not_modified")):
            cache.add_metric([result], state["cache"].get(name, 0))
        yield cache
        yield CounterMetricFamily("screenshotd_coalesced_requests",
                                  "Requests that joined an identical capture already running.",
                                  value=state["cache"].get("coalesced", 0))
        pool = state["pool"]
        yield GaugeMetricFamily("screenshotd_pool_slots", "Pool slots.", value=pool["size"])
        yield GaugeMetricFamily("screenshotd_pool_slots_in_use", "Pool slots rendering now.",
                                value=pool["in_use"])
        yield GaugeMetricFamily("screenshotd_pool_waiters", "Requests waiting for a slot.",
                                value=pool["waiting"])
        yield GaugeMetricFamily("screenshotd_pool_warm_contexts",
                                "Browser contexts created ahead of time.",
                                value=pool["warm_contexts"])
        isolation = GaugeMetricFamily("screenshotd_pool_isolation",
                                      "1 for the isolation mode in use (BROWSER_ISOLATION).",
                                      labels=["mode"])
        isolation.add_metric([pool["isolation"]], 1)
        yield isolation
        yield GaugeMetricFamily("screenshotd_pool_refill_backlog",
                                "Warm contexts missing from the target, to be made when idle.",
                                value=max(0, pool["warm_target"] - pool["warm_contexts"]))
        yield GaugeMetricFamily("screenshotd_pool_closing_contexts",
                                "Used contexts whose close runs in the background.",
                                value=pool["closing"])
        yield GaugeMetricFamily("screenshotd_pool_expected_wait_seconds",
                                "How long a capture arriving now would wait for a slot.",
                                value=pool["expected_wait_s"])
        yield CounterMetricFamily("screenshotd_pool_refused",
                                  "Captures refused with 503: the expected wait was too long.",
                                  value=pool["refused"])
        browser = state["browser"]
        yield GaugeMetricFamily("screenshotd_browser_connected", "1 while Chromium is connected.",
                                value=1 if browser["connected"] else 0)
        restarts = CounterMetricFamily(
            "screenshotd_browser_restarts",
            "Chromium relaunches: crash (it died or hung) or recycle (BROWSER_RECYCLE_AFTER).",
            labels=["reason"])
        restarts.add_metric(["crash"], browser["restarts"])
        restarts.add_metric(["recycle"], browser["recycles"])
        yield restarts
        jobs = GaugeMetricFamily("screenshotd_jobs", "Jobs kept now, by state.",
                                 labels=["state"])
        for job_state, count in sorted(state["job_states"].items()):
            jobs.add_metric([job_state], count)
        yield jobs
        ended = CounterMetricFamily("screenshotd_jobs_finished",
                                    "Jobs that ended, by how.", labels=["state"])
        for how in ("completed", "failed", "cancelled", "expired", "evicted"):
            ended.add_metric([how], state["jobs"].get(how, 0))
        yield ended
        yield CounterMetricFamily("screenshotd_jobs_submitted", "Jobs submitted.",
                                  value=state["jobs"].get("submitted", 0))
        yield CounterMetricFamily(
            "screenshotd_job_claims", "Jobs this replica took from the queue to run.",
            value=state["jobs"].get("claims", 0))
        yield CounterMetricFamily(
            "screenshotd_job_takeovers",
            "Jobs this replica put back in the queue for a replica that stopped answering.",
            value=state["jobs"].get("takeovers", 0))
        yield CounterMetricFamily(
            "screenshotd_jobs_handed_back",
            "Running jobs this replica gave back to the queue when it stopped.",
            value=state["jobs"].get("handed_back", 0))
        usage = state.get("usage")
        if usage is not None:  # by key name, never the key
            renders = CounterMetricFamily(
                "screenshotd_key_renders", "Renders charged to each named key on this replica.",
                labels=["key"])
            hits = CounterMetricFamily(
                "screenshotd_key_hits", "Cache hits served to each named key on this replica.",
                labels=["key"])
            for name, count in sorted(usage.renders.items()):
                renders.add_metric([name], count)
            for name, count in sorted(usage.hits.items()):
                hits.add_metric([name], count)
            yield renders
            yield hits
        if state.get("replicas") is not None:
            yield GaugeMetricFamily("screenshotd_replicas_alive",
                                    "Replicas whose heartbeat this replica sees in Redis.",
                                    value=len(state["replicas"]))
        hooks = CounterMetricFamily("screenshotd_webhook_deliveries",
                                    "Webhook deliveries by outcome (after their retries).",
                                    labels=["outcome"])
        for outcome in ("delivered", "failed"):
            hooks.add_metric([outcome], state["webhooks"].get(outcome, 0))
        yield hooks
        yield CounterMetricFamily("screenshotd_webhook_attempts",
                                  "Webhook POSTs made, retries included.",
                                  value=state["webhooks"].get("attempts", 0))
        yield CounterMetricFamily("screenshotd_rate_limited",
                                  "Requests refused with 429 for the rate limit.",
                                  value=state["rate_limited"])
        responses = CounterMetricFamily("screenshotd_http_responses",
                                        "HTTP responses by method, route and status.",
                                        labels=["method", "route", "status"])
        for (method, route, status), count in sorted(state["responses"].items()):
            responses.add_metric([method, route, str(status)], count)
        yield responses


async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST,
                    headers={"Cache-Control": "no-store"})
