"""DiffService: two images in, a cached pixel diff out.

The HTTP routes, jobs and URLs only gather the two images' bytes; this is where they are
decoded (guarded against bombs), compared by :mod:`screenshotd.imaging.pixelmatch` and the diff image
encoded, all in one worker thread, with a bound on how many diffs run and wait at once.

Results are cached in the capture cache, keyed by SHA-256 over both images' bytes and the
options, so the same pair is compared once however it arrives (uploads, job ids, cache keys,
URLs). The entry is a :class:`~screenshotd.core.stored.StoredImage` of kind ``diff``, so
``GET /images/{key}.png`` serves the diff image too.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from screenshotd.concurrency import BoundedSlots, SingleFlight
from screenshotd.core.cache import Cache, Entry
from screenshotd.core.results import StoredImage
from screenshotd.imaging.images import decode_rgba, encode_png
from screenshotd.imaging.pixelmatch import DiffResult, compare
from screenshotd.params.diff import DiffOptions

#: Bumped whenever the same inputs may give other bytes or numbers, so old entries are unused.
DIFF_FORMAT_VERSION = 1
#: Diffs computed at once (each may hold a few hundred MB at the pixel limit), how many may
#: wait for a turn, and for how long, before the answer is 503.
DIFF_SLOTS = 2
DIFF_WAITING = 8
DIFF_WAIT_S = 30.0
#: What a diff is taken to cost until some were measured: two 1280x800 PNGs take about 60 ms.
TYPICAL_DIFF_S = 0.2
#: Inputs smaller than this are hashed on the event loop; larger ones in a thread.
INLINE_HASH_BYTES = 1 << 20


@dataclass
class DiffOutcome:
    """A diff as the routes answer it: the stats, the diff PNG and where it came from."""

    key: str
    stats: dict[str, Any]
    png: bytes
    cached: bool
    stored: bool
    ttl: int
    age: int = 0
    #: Time spent decoding, comparing and encoding (0 for a cached diff).
    diff_time_ms: int = 0


def diff_key(before: bytes, after: bytes, options: DiffOptions) -> str:
    """SHA-256 over both images' digests and every option that changes the result."""
    payload = {
        "_diff": DIFF_FORMAT_VERSION,
        "before": hashlib.sha256(before).hexdigest(),
        "after": hashlib.sha256(after).hexdigest(),
        "options": options.to_json(),
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def run_diff(before: bytes, after: bytes, options: DiffOptions, max_pixels: int,
             fields: tuple[str, str] = ("image1", "image2")) -> tuple[DiffResult, bytes]:
    """Decode, compare and encode: the whole CPU part, in one thread (the CLI's way)."""
    img1 = decode_rgba(before, field=fields[0], max_pixels=max_pixels)
    img2 = decode_rgba(after, field=fields[1], max_pixels=max_pixels)
    return compare_and_encode(img1, img2, options)


def compare_and_encode(img1: np.ndarray, img2: np.ndarray,
                       options: DiffOptions) -> tuple[DiffResult, bytes]:
    result = compare(img1, img2, options)
    assert result.image is not None
    return result, encode_png(result.image)


class DiffService:
    """Runs and caches diffs. One per app; it shares the capture cache."""

    def __init__(self, cache: Cache, max_pixels: int, *, slots: int = DIFF_SLOTS,
                 waiting: int = DIFF_WAITING, wait_s: float = DIFF_WAIT_S) -> None:
        self.cache = cache
        self.max_pixels = max_pixels
        self._slots = BoundedSlots(slots, waiting, wait_s, what="diff worker",
                                   typical_hold_s=TYPICAL_DIFF_S)
        self._flights: SingleFlight[DiffOutcome] = SingleFlight("diff")
        self.counts = {"diffs": 0, "hits": 0, "coalesced": 0}

    async def key(self, before: bytes, after: bytes, options: DiffOptions) -> str:
        if len(before) + len(after) <= INLINE_HASH_BYTES:
            return diff_key(before, after, options)
        return await asyncio.to_thread(diff_key, before, after, options)

    async def stored(self, key: str) -> Entry | None:
        """The cached diff's entry without its bytes (for a 304), or None."""
        entry = await self.cache.head(key)
        return entry if entry is not None and "diff" in entry.meta else None

    async def diff(self, before: bytes, after: bytes, options: DiffOptions, *, ttl: int,
                   use_cache: bool = True, key: str | None = None,
                   fields: tuple[str, str] = ("image1", "image2")) -> DiffOutcome:
        """The diff of two encoded images: from the cache, or computed and stored.

        ``fields`` name the two images in errors (``image1``, ``job_id_2``, ``after``...).
        """
        key = key or await self.key(before, after, options)
        if use_cache:
            entry = await self.cache.get(key)
            if entry is not None and "diff" in entry.meta:
                self.counts["hits"] += 1
                return DiffOutcome(key, dict(entry.meta["diff"]), entry.data, cached=True,
                                   stored=True, ttl=entry.ttl, age=entry.age())
        if key in self._flights:
            self.counts["coalesced"] += 1
        # A request that goes away leaves the diff running (detach): its thread cannot be
        # stopped, and its result is stored for the next one.
        return await self._flights.run(
            key, lambda: self._compute(before, after, options, ttl, key, fields), detach=True)

    async def _compute(self, before: bytes, after: bytes, options: DiffOptions, ttl: int,
                       key: str, fields: tuple[str, str]) -> DiffOutcome:
        await self._slots.acquire()
        started = time.perf_counter()
        try:
            # The two decodes run at once (Pillow lets go of the GIL), then the comparison.
            # Both end before the slot is given back, even when one fails.
            decoded = await asyncio.gather(
                asyncio.to_thread(decode_rgba, before, field=fields[0],
                                  max_pixels=self.max_pixels),
                asyncio.to_thread(decode_rgba, after, field=fields[1],
                                  max_pixels=self.max_pixels),
                return_exceptions=True,
            )
            img1, img2 = decoded
            if isinstance(img1, BaseException):
                raise img1
            if isinstance(img2, BaseException):
                raise img2
            result, png = await asyncio.to_thread(compare_and_encode, img1, img2, options)
        finally:
            self._slots.observe(time.perf_counter() - started)
            self._slots.release()
        elapsed = round((time.perf_counter() - started) * 1000)
        self.counts["diffs"] += 1
        stats = result.to_json()
        meta = StoredImage(key, png, "diff", "png", "image/png", result.width, result.height,
                           url=None, truncated=False).to_meta()
        meta["diff"] = stats
        stored = await self.cache.set(key, Entry(png, meta, ttl))
        return DiffOutcome(key, stats, png, cached=False, stored=stored, ttl=ttl,
                           diff_time_ms=elapsed)

    def health(self) -> dict[str, Any]:
        return {"running": self._slots.in_use, "waiting": self._slots.waiting, **self.counts}
