"""ScreenshotService: options -> cache -> singleflight -> guard -> pool -> capture -> cache.

Every way in (HTTP, the CLI, later jobs, batch and diff) calls this one service, so there is one
copy of the capture road. It knows nothing of HTTP either.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from screenshotd import errors
from screenshotd.auth.callers import Caller
from screenshotd.auth.signing import Signer
from screenshotd.blocking import lists as blocking
from screenshotd.browser import capture as capture_mod
from screenshotd.browser.driver import Driver
from screenshotd.browser.pool import BrowserPool
from screenshotd.concurrency import SingleFlight
from screenshotd.core import finishing
from screenshotd.core.cache import Cache, Entry, make_cache
from screenshotd.core.results import CaptureResult, StoredImage
from screenshotd.net import egress
from screenshotd.net.addresses import AddressPolicy, check_url_literal
from screenshotd.net.proxy import EgressProxy
from screenshotd.params.capture import CaptureOptions, ParseLimits
from screenshotd.params.devices import devices_from_playwright
from screenshotd.params.video import video_time
from screenshotd.settings import Settings, SettingsError

if TYPE_CHECKING:
    from screenshotd.core.storage import ResultStore

log = logging.getLogger(__name__)

Served = TypeVar("Served", CaptureResult, StoredImage, Entry)

#: Slack on top of the capture's ``timeout`` (counted from when it gets its slot), after which
#: it is abandoned whatever the page is doing: the answer is a 408, the slot is free at once,
#: and the page's context is closed in the background, which ends its renderer.
DEADLINE_GRACE_S = 1.5

#: How many parsed query strings to remember, and the longest one worth remembering.
PARSE_MEMO_ENTRIES = 4096
PARSE_MEMO_MAX_QUERY = 4096


#: Called with the options at the start of every real capture (not for hits or for requests
#: that join a capture already running). Tests count captures with it.
CaptureHook = Callable[[CaptureOptions], None]


class CaptureObserver(Protocol):
    """What watches captures (:class:`screenshotd.http.metrics.Metrics`)."""

    def capture_done(self, seconds: float, code: str | None) -> None: ...

    def queue_waited(self, seconds: float) -> None: ...

    def stable_waited(self, seconds: float, stable: bool) -> None: ...


class ScreenshotService:
    """Owns the capture road. ``pool`` must be open before :meth:`capture` is called."""

    def __init__(
        self, settings: Settings, pool: BrowserPool, cache: Cache, guard: egress.Guard | None = None
    ) -> None:
        self.settings = settings
        #: ADBLOCK_LISTS, read now so a bad entry stops the start; loaded by :meth:`open`.
        try:
            self.list_sources = blocking.parse_sources(settings.adblock_lists)
        except blocking.ListError as exc:
            raise SettingsError(f"ADBLOCK_LISTS: {exc}") from None
        self.blocklists: blocking.Blocklists | None = None
        self.pool = pool
        self.cache = cache
        self.guard = guard or egress.Guard(
            AddressPolicy.from_setting(settings.allow_private_hosts)
        )
        self.policy = self.guard.policy
        self.capture_hooks: list[CaptureHook] = []
        #: Told of every capture's outcome, duration and queue wait (the app's metrics).
        self.observer: CaptureObserver | None = None
        #: hits, misses, not_modified, captures, coalesced (requests that joined a capture).
        self.counts: Counter[str] = Counter()
        self._flights: SingleFlight[CaptureResult] = SingleFlight("capture")
        self._limits: ParseLimits | None = None
        #: Parsed options by raw query string: an <img> URL is requested again and again, and
        #: a hit should not pay for validation each time. A plain dict, emptied when full or
        #: when the limits change: a lookup is the whole cost on the hot path.
        self._parsed: dict[bytes, CaptureOptions] = {}
        self._door_passed: dict[str, None] = {}
        #: Where results are kept beyond the cache (``STORAGE_TYPE``); None: nowhere.
        self.results: ResultStore | None = None
        #: Signs links to stored results (``SIGNING_SECRET``).
        self.signer = Signer(settings.signing_secret) if settings.signing_secret else None

    @classmethod
    def from_settings(
        cls, settings: Settings, resolver: egress.Resolver | None = None,
        warm_contexts: int | None = None, driver: Driver | None = None,
    ) -> ScreenshotService:
        """The service as the settings describe it. ``resolver`` replaces the system's DNS for
        the guard (tests rebind names with it); ``warm_contexts`` overrides the pool's (one per
        slot), and ``driver`` is Playwright's driver started ahead, for a command that captures
        once."""
        guard = egress.Guard(AddressPolicy.from_setting(settings.allow_private_hosts),
                             resolver)
        pool = BrowserPool(
            executable_path=settings.resolve_chromium(),
            slots=settings.browser_max_concurrent,
            queue_size=settings.queue_size,
            queue_timeout=settings.browser_queue_timeout_ms / 1000,
            recycle_after=settings.browser_recycle_after,
            warm_contexts=warm_contexts,
            # The egress proxy is the guard, and the way out through upstream proxies.
            egress=None if guard.open and not settings.proxies else EgressProxy(
                guard, settings.proxies),
            isolation=settings.browser_isolation,
            per_owner=settings.per_caller_slots,
            driver=driver,
        )
        cache = make_cache(settings.redis_url, settings.cache_max_bytes,
                           settings.cache_near_max_bytes)
        service = cls(settings, pool, cache, guard)
        if settings.storage_kind != "none":
            from screenshotd.core.storage import ResultStore  # obstore: only with storage

            service.results = ResultStore(settings)
        return service

    async def open(self) -> None:
        if self.blocklists is None:
            try:
                self.blocklists = await asyncio.to_thread(blocking.load, self.list_sources)
            except blocking.ListError as exc:
                raise SettingsError(f"ADBLOCK_LISTS: {exc}") from None
        if self.results is not None:
            await self.results.open()  # a store that does not work stops the start first
        await self.cache.open()
        try:
            if self.pool.egress is not None:
                await self.pool.egress.start()
            await self.pool.open()
        except BaseException:
            await self._close_egress()
            await self.cache.close()
            if self.results is not None:
                await self.results.close()
            raise

    async def close(self) -> None:
        await self._flights.cancel_all(grace=5)
        try:
            await self.pool.close(grace=self.settings.shutdown_grace_seconds)
        finally:
            await self._close_egress()
            await self.cache.close()
            if self.results is not None:
                await self.results.close()

    async def _close_egress(self) -> None:
        if self.pool.egress is not None:
            await self.pool.egress.close()
        self.guard.close()

    @property
    def limits(self) -> ParseLimits:
        """Server-dependent bounds; the device table is known once the pool has started."""
        if self._limits is None or (not self._limits.devices and self.pool.devices):
            self._limits = ParseLimits(
                screenshot_timeout_ms=self.settings.screenshot_timeout_ms,
                devices=devices_from_playwright(self.pool.devices),
                proxies=self.settings.proxies)
            self._parsed.clear()
        return self._limits

    def parse(self, params: Mapping[str, Any], memo: bytes | None = None) -> CaptureOptions:
        """Validate request parameters. ``memo``, a raw query string, keeps the result for
        :meth:`parsed`; only valid options are kept."""
        opts = CaptureOptions.parse(params, self.limits)
        if opts.store or opts.signed_link:
            from screenshotd.core import keeping

            keeping.check(opts, self.results, self.signer)
        if memo is not None and len(memo) <= PARSE_MEMO_MAX_QUERY:
            if len(self._parsed) >= PARSE_MEMO_ENTRIES:
                self._parsed.clear()
            self._parsed[memo] = opts
        return opts

    async def store(self, result: CaptureResult, owner: str, opts: CaptureOptions,
                    base_url: str) -> dict[str, Any]:
        """Keep a capture in the result storage for ``owner``; the links an answer gives
        (:mod:`~screenshotd.core.keeping`). Raises :class:`errors.StorageUnavailable`."""
        assert self.results is not None
        from screenshotd.core import keeping

        return await keeping.store(self.results, self.signer, result, owner, opts, base_url)

    def parsed(self, query_string: bytes) -> CaptureOptions | None:
        """Options parsed earlier from exactly this query string, if any."""
        if self._limits is None or (not self._limits.devices and self.pool.devices):
            return None  # the limits are about to change
        return self._parsed.get(query_string)

    def ttl(self, opts: CaptureOptions) -> int:
        return opts.cache_ttl or self.settings.cache_ttl_seconds

    async def screenshot(self, opts: CaptureOptions, caller: Caller, *,
                         detach: bool = True) -> CaptureResult:
        """The cached road for ``caller``: a hit, or one capture shared by every concurrent
        identical request.

        The caller must be allowed the page (403 ``DOMAIN_NOT_ALLOWED``) before anything is
        read. A hit is free; a request that may render is charged to the caller first (429
        ``RATE_LIMITED``).

        With ``cache=false`` the cache is not read, and the fresh result replaces the entry.
        Requests with the same key that arrive while a capture runs wait for it (singleflight).
        The capture runs in its own task. With ``detach`` (an HTTP request) a waiter that goes
        away leaves it running for the others, and its result is still cached. Without it (a
        job being cancelled), the capture is cancelled too once no waiter is left that asked
        for it to go on, so the browser work stops.
        """
        caller.check_target(opts.url)
        if opts.cache:
            result = await self._hit(opts)
            if result is not None:
                return result
        await caller.charge()
        key = opts.cache_key()
        self.counts["misses"] += 1
        if key in self._flights:
            self.counts["coalesced"] += 1
        return await self._flights.run(
            key, lambda: self._capture_and_store(opts, key, caller.id), detach=detach)

    async def hit(self, opts: CaptureOptions, caller: Caller) -> Entry | None:
        """The cache entry of ``opts``, a whole result served as a hit, or None: the hit
        path's road, which sends what it needs from the entry itself, without making a
        :class:`CaptureResult` of it. No browser work, no DNS, no charge."""
        caller.check_target(opts.url)
        entry = await self._entry(opts)
        if entry is None or not CaptureResult.whole(entry):
            return None  # a miss, as CaptureResult.from_entry would find it
        return self._served(entry, "hits")

    async def _hit(self, opts: CaptureOptions) -> CaptureResult | None:
        entry = await self._entry(opts)
        return None if entry is None else self._served(CaptureResult.from_entry(entry), "hits")

    async def cached(self, opts: CaptureOptions, caller: Caller) -> Entry | None:
        """The cache entry of ``opts`` (its bytes need not be there: none move), for answering
        304 with its ``ttl`` and ``age()``."""
        caller.check_target(opts.url)
        entry = await self._entry(opts, head=True)
        return None if entry is None else self._served(entry, "not_modified")

    async def _entry(self, opts: CaptureOptions, head: bool = False) -> Entry | None:
        """The cache entry of ``opts``, once its URL passed the DNS-free door check."""
        self._door_url(opts.url)
        key = opts.cache_key()
        return await (self.cache.head(key) if head else self.cache.get(key))

    async def admit(self, caller: Caller, pages: Sequence[CaptureOptions | None],
                    fields: Sequence[str] = (), batch: bool = False) -> None:
        """The door for work that runs later or several at once (a job, a batch, a diff's
        pages); nothing is charged here. Every page must be one the caller may capture (403
        ``DOMAIN_NOT_ALLOWED``), checked for all of them before any DNS; then every page and
        webhook URL goes through the private-network guard (400 ``BLOCKED``), all at once.
        One refusal refuses all. ``fields`` name the pages in errors (default ``url``); with
        ``batch``, errors name the item by its index (a batch's invalid items are None) and say
        that nothing was run."""
        for index, opts in enumerate(pages):
            if opts is None:
                continue
            try:
                caller.check_target(opts.url, fields[index] if fields else "url")
            except errors.DomainNotAllowed as exc:
                if not batch:
                    raise
                raise errors.DomainNotAllowed(f"item {index}: {exc.message}; nothing in this "
                                              "batch was run", field=exc.field) from None
        checks = [(index, url, name) for index, opts in enumerate(pages) if opts is not None
                  for url, name in ((opts.url, fields[index] if fields else "url"),
                                    (opts.webhook_url, "webhook_url")) if url]
        outcomes = await asyncio.gather(*(self.guard.check_url(url) for _, url, _ in checks),
                                        return_exceptions=True)
        for (index, url, name), outcome in zip(checks, outcomes, strict=True):
            if isinstance(outcome, errors.Blocked) and batch:
                raise errors.Blocked(f"item {index} ({url[:200]}): {outcome.message}; "
                                     "nothing in this batch was run", field=name)
            if isinstance(outcome, errors.Blocked):
                raise outcome.naming(name) from None
            if isinstance(outcome, BaseException):
                raise outcome

    def _door_url(self, url: str | None) -> None:
        """The DNS-free part of the door check, remembered per URL that passed it. Serving
        stored bytes makes no request, but a cache shared with a more permissive replica must
        not hand out its captures of private addresses."""
        if url is None or url in self._door_passed:
            return
        try:
            check_url_literal(url, self.policy)
        except errors.Blocked as exc:
            raise exc.naming("url") from None
        if len(url) <= PARSE_MEMO_MAX_QUERY:
            if len(self._door_passed) >= PARSE_MEMO_ENTRIES:
                self._door_passed.clear()
            self._door_passed[url] = None

    async def lookup(self, key: str, caller: Caller, head: bool = False) -> StoredImage | None:
        """A stored image by its key (``GET /images/{key}.{ext}``, a diff's ``cache_key``);
        with ``head``, without its bytes (for a 304). None, as for a key that does not exist,
        when ``caller`` may not see it (:meth:`StoredImage.visible_to`): a key limited to some
        domains sees only the captures it could have made. A capture's URL passes the
        DNS-free door check first."""
        entry = await (self.cache.head(key) if head else self.cache.get(key))
        image = None if entry is None else StoredImage.from_entry(key, entry)
        if image is None or not image.visible_to(caller):
            return None
        self._door_url(image.url)
        return self._served(image, "not_modified" if head else "hits")

    def _served(self, result: Served | None, count: str) -> Served | None:
        if result is not None:
            self.counts[count] += 1
        return result

    async def _capture_and_store(self, opts: CaptureOptions, key: str,
                                 owner: str) -> CaptureResult:
        result = await self.capture(opts, owner)
        result.ttl = self.ttl(opts)
        result.stored = await self.cache.set(key, Entry(result.data, result.to_meta(), result.ttl))
        return result

    async def check(self, opts: CaptureOptions) -> None:
        """The door: refuse a main URL that targets a non-public address. No browser work."""
        if opts.url is not None:
            try:
                await self.guard.check_url(opts.url)
            except errors.Blocked as exc:
                raise exc.naming("url") from None

    async def capture(self, opts: CaptureOptions, owner: str = "") -> CaptureResult:
        """Capture ``opts`` now, uncached: the door check, a pooled context, the page, the
        post-processing. ``owner`` is the caller the browser slot is for (slots are shared
        fairly among callers). The outcome and duration go to :attr:`observer` when there is
        one."""
        await self.check(opts)
        self.counts["captures"] += 1
        for hook in self.capture_hooks:
            hook(opts)
        started = time.monotonic()
        if self.observer is None:
            return await self._capture(opts, started, owner)
        code: str | None = "INTERNAL"
        try:
            result = await self._capture(opts, started, owner)
            code = None
            return result
        except errors.ScreenshotError as exc:
            code = exc.code
            raise
        except asyncio.CancelledError:
            code = "CANCELLED"
            raise
        finally:
            self.observer.capture_done(time.monotonic() - started, code)

    async def _capture(self, opts: CaptureOptions, started: float, owner: str) -> CaptureResult:
        timeout_ms = opts.timeout or 30000
        hard_limit = timeout_ms / 1000 + DEADLINE_GRACE_S + video_time(opts)
        request_filter = self.request_filter(opts)
        async with self.pool.acquire(opts.context_options(), keepable=not opts.outlives_page,
                                     owner=owner) as lease:
            if self.observer is not None:
                self.observer.queue_waited(lease.waited_ms / 1000)
            try:
                raw = await asyncio.wait_for(
                    lease.run(capture_mod.capture(
                        lease.context, opts, max_height=self.settings.max_full_page_height,
                        page=lease.page, channel=lease.channel, request_filter=request_filter,
                        emulated=lease.emulated, session=lease.session,
                        stable_budget_ms=self.settings.stable_budget_ms)),
                    hard_limit,
                )
            except TimeoutError:
                raise errors.CaptureTimeout(
                    f"the capture did not finish within its timeout ({timeout_ms} ms); the page "
                    "was stopped", field="timeout"
                ) from None
        if self.observer is not None and raw.stable is not None:
            self.observer.stable_waited(raw.stable_ms / 1000, raw.stable)
        return await finishing.finish(raw, opts, request_filter, lease.blocked_requests,
                                      started)

    def request_filter(self, opts: CaptureOptions) -> blocking.RequestFilter | None:
        """The capture's request filter, when it blocks anything."""
        if not opts.blocks_requests:
            return None
        categories = (blocking.ADS if opts.block_ads else 0) | (
            blocking.TRACKERS if opts.block_trackers else 0)
        return blocking.RequestFilter(self.blocklists, categories, opts.block_requests or (),
                                      opts.url, opts.block_resources or ())

    def health(self) -> dict[str, Any]:
        pool = self.pool
        return {
            "browser": {
                "connected": pool.connected,
                "version": pool.browser_version,
                "restarts": pool.restarts,
                "recycles": pool.recycles,
            },
            "pool": pool.stats(),
            "blocking": self.blocklists.health() if self.blocklists is not None else None,
            "guard": {
                "enabled": not self.guard.open,
                "channels": pool.egress.channel_count if pool.egress is not None else 0,
            },
            "proxies": self.settings.proxies.health(),
            "cache": {**self.cache.health(), **{name: self.counts[name] for name in (
                "hits", "misses", "not_modified", "captures", "coalesced")}},
            "storage": (self.results.health() if self.results is not None
                        else {"backend": "none", "state": "off"}),
        }

