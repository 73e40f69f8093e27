"""DiffService: caching by pair and options, one computation per pair, bounded workers."""

from __future__ import annotations

import asyncio
import io
import threading
from typing import Any

import numpy as np
import pytest
from PIL import Image

from screenshotd import errors
from screenshotd.auth.callers import Caller
from screenshotd.core import diffs as diff_service
from screenshotd.core.cache import Entry, MemoryCache
from screenshotd.core.diffs import DiffService, diff_key
from screenshotd.core.results import CaptureResult, StoredImage
from screenshotd.params.diff import DiffOptions


def png(rgb: tuple[int, int, int], size: tuple[int, int] = (20, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, rgb).save(buffer, "PNG")
    return buffer.getvalue()


WHITE, BLACK = png((255, 255, 255)), png((0, 0, 0))


def service(**kwargs: Any) -> DiffService:
    return DiffService(MemoryCache(64 * 1024 * 1024), 50_000_000, **kwargs)


async def test_results_are_cached_by_pair_and_options() -> None:
    diffs = service()
    first = await diffs.diff(WHITE, BLACK, DiffOptions(), ttl=60)
    assert not first.cached and first.stats["changed_pixels"] == 200
    again = await diffs.diff(WHITE, BLACK, DiffOptions(), ttl=60)
    assert again.cached and again.key == first.key and again.png == first.png
    assert again.stats == first.stats
    other = await diffs.diff(WHITE, BLACK, DiffOptions(threshold=0.2), ttl=60)
    assert not other.cached and other.key != first.key
    swapped = await diffs.diff(BLACK, WHITE, DiffOptions(), ttl=60)
    assert swapped.key != first.key  # which image is first matters (the faded background)
    fresh = await diffs.diff(WHITE, BLACK, DiffOptions(), ttl=60, use_cache=False)
    assert not fresh.cached
    assert diffs.counts == {"diffs": 4, "hits": 1, "coalesced": 0}


async def test_the_entry_is_an_image_the_cache_can_serve() -> None:
    """``/images/{key}.png`` serves a diff: its entry reads back as a stored image of kind
    diff, which any caller holding the key may see, and never as a capture hit."""
    diffs = service()
    outcome = await diffs.diff(WHITE, BLACK, DiffOptions(), ttl=60)
    entry = await diffs.cache.get(outcome.key)
    assert entry is not None
    image = StoredImage.from_entry(outcome.key, entry)
    assert image is not None and image.kind == "diff" and image.data == outcome.png
    assert (image.format, image.content_type, image.width, image.height) == (
        "png", "image/png", 20, 10)
    assert image.visible_to(Caller("key:narrow", ("example.com",)))
    assert CaptureResult.from_entry(entry) is None
    assert await diffs.stored(outcome.key) is not None
    assert await diffs.stored("0" * 64) is None


def test_stored_images_written_before_kind_was_kept_are_told_apart() -> None:
    png = {"format": "png", "content_type": "image/png", "url": "https://example.com/"}
    old_capture = StoredImage.from_entry("a" * 64, Entry(b"x", dict(png), 60))
    old_diff = StoredImage.from_entry("b" * 64, Entry(b"x", {**png, "url": None, "diff": {}}, 60))
    assert old_capture is not None and old_capture.kind == "capture"
    assert old_diff is not None and old_diff.kind == "diff"
    narrow = Caller("key:n", ("other.example",))
    assert not old_capture.visible_to(narrow) and old_diff.visible_to(narrow)
    assert StoredImage.from_entry("c" * 64, Entry(b"x", {"width": 1}, 60)) is None


def test_the_key_covers_both_images_and_every_option() -> None:
    base = diff_key(WHITE, BLACK, DiffOptions())
    assert diff_key(WHITE, BLACK, DiffOptions()) == base
    for options in (DiffOptions(include_aa=True), DiffOptions(alpha=0.5),
                    DiffOptions(diff_color=(0, 0, 255)), DiffOptions(diff_color_alt=(0, 255, 0)),
                    DiffOptions(aa_color=(0, 0, 0)), DiffOptions(diff_mask=True)):
        assert diff_key(WHITE, BLACK, options) != base
    assert diff_key(WHITE, WHITE, DiffOptions()) != base


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Hold every diff in its worker thread until the test opens the gate."""
    opened = threading.Event()
    real = diff_service.compare_and_encode

    def held(*args: Any) -> Any:
        assert opened.wait(10)
        return real(*args)

    monkeypatch.setattr(diff_service, "compare_and_encode", held)
    return opened


async def test_concurrent_requests_for_one_pair_share_one_diff(gate: threading.Event) -> None:
    diffs = service()
    waiters = [asyncio.create_task(diffs.diff(WHITE, BLACK, DiffOptions(), ttl=60))
               for _ in range(3)]
    await asyncio.sleep(0.05)
    gate.set()
    outcomes = await asyncio.gather(*waiters)
    assert {o.key for o in outcomes} == {outcomes[0].key}
    assert diffs.counts["diffs"] == 1 and diffs.counts["coalesced"] == 2


async def test_a_waiter_that_leaves_does_not_stop_the_diff(gate: threading.Event) -> None:
    diffs = service()
    waiter = asyncio.create_task(diffs.diff(WHITE, BLACK, DiffOptions(), ttl=60))
    await asyncio.sleep(0.05)
    waiter.cancel()
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    for _ in range(100):
        if diffs.counts["diffs"]:
            break
        await asyncio.sleep(0.02)
    assert (await diffs.diff(WHITE, BLACK, DiffOptions(), ttl=60)).cached


async def test_busy_workers_answer_503(gate: threading.Event) -> None:
    diffs = service(slots=1, waiting=1, wait_s=0.2)
    running = asyncio.create_task(diffs.diff(WHITE, BLACK, DiffOptions(), ttl=60))
    await asyncio.sleep(0.05)
    waiting = asyncio.create_task(diffs.diff(BLACK, WHITE, DiffOptions(), ttl=60))
    await asyncio.sleep(0.05)
    assert diffs.health()["running"] == 1 and diffs.health()["waiting"] == 1
    with pytest.raises(errors.PoolExhausted, match="wait queue is full"):
        await diffs.diff(WHITE, WHITE, DiffOptions(), ttl=60)
    with pytest.raises(errors.PoolExhausted, match="in time"):
        await waiting
    gate.set()
    assert (await running).stats["changed_pixels"] == 200
    assert diffs.health()["running"] == 0


async def test_errors_name_the_image(gate: threading.Event) -> None:
    gate.set()
    diffs = service()
    with pytest.raises(errors.ValidationError) as caught:
        await diffs.diff(WHITE, b"GIF89a....", DiffOptions(), ttl=60,
                         fields=("image1", "job_id_2"))
    assert caught.value.field == "job_id_2"
    assert diffs.health()["running"] == 0


def test_arrays_stay_uint8() -> None:
    result, encoded = diff_service.run_diff(WHITE, BLACK, DiffOptions(), 50_000_000)
    assert result.image is not None and result.image.dtype == np.uint8
    assert encoded.startswith(b"\x89PNG")
