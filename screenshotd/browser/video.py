"""record(page, opts) -> bytes: a video of a prepared page, from Chromium's own frames.

Chromium's screencast (DevTools ``Page.startScreencast``) sends a JPEG each time the page's pixels
change. Each frame goes into a small bounded queue and is acknowledged only once queued: while
the encoder is behind, Chromium holds its next frame, so frames never pile up in memory. One
task feeds the queue to the encoder (:class:`~screenshotd.imaging.video.VideoEncoder`) in a
worker thread, in order; the event loop only moves bytes.

The recording lasts ``duration`` seconds from the first frame. Meanwhile ``scroll`` runs a
linear scroll from the top to the bottom of the page over the whole duration (in the page's own
animation frames), and ``actions`` are replayed in order, each after its ``delay``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from playwright.async_api import CDPSession, Page

from screenshotd import errors
from screenshotd.browser import scripts, steps
from screenshotd.browser.steps import Deadline
from screenshotd.params.capture import RenderOptions
from screenshotd.params.video import frame_count, frame_size

if TYPE_CHECKING:
    from screenshotd.imaging.video import VideoEncoder

log = logging.getLogger(__name__)

#: Frames queued between Chromium and the encoder: a fifth of a second at 25 fps.
QUEUE_FRAMES = 5
#: Screencast JPEG quality: the frames are re-encoded, so this is close to lossless.
FRAME_QUALITY = 90
#: Most time the first frame may take to come once the screencast starts.
FIRST_FRAME_TIMEOUT_S = 10

#: Resolves once the page has drawn a frame since it was called.
NEXT_FRAME = scripts.with_timers(
    "() => { TIMERS return new Promise(done => frame(() => frame(done))); }")

#: Scrolls from the top to the bottom of the page in ``ms``, one step per animation frame.
SCROLL_THROUGH = scripts.with_timers("""ms => {
  TIMERS
  const root = document.scrollingElement || document.documentElement;
  const start = now();
  window.scrollTo(0, 0);
  const step = at => {
    const done = Math.min(1, (at - start) / ms);
    window.scrollTo(0, (root.scrollHeight - window.innerHeight) * done);
    if (done < 1) frame(step);
  };
  frame(step);
}""")


async def record(page: Page, opts: RenderOptions, session: CDPSession | None = None
                 ) -> tuple[bytes, tuple[int, int]]:
    """Record ``page`` as ``opts`` asks; the file's bytes and its frame size. ``session`` is the
    page's own DevTools session when it has one; else one is opened and closed here."""
    assert opts.width and opts.height and opts.device_scale_factor and opts.duration and opts.fps
    width, height = frame_size(opts.width, opts.height, opts.device_scale_factor)
    # imported here: PyAV costs a capture that is not a video 40 ms to load
    from screenshotd.imaging.video import VideoEncoder

    encoder = VideoEncoder(opts.format, width, height, opts.fps,
                           frame_count(opts.duration, opts.fps))
    if opts.freeze_time is not None:
        await page.clock.resume()  # a recording moves: the page's time runs on from there
    await page.evaluate(NEXT_FRAME)  # the screencast starts from a frame of this page
    own = session is None
    cdp = session or await page.context.new_cdp_session(page)
    recording = _Recording(cdp, encoder, opts.duration)
    try:
        cdp.on("Page.screencastFrame", recording.frame)
        await cdp.send("Page.startScreencast", {
            "format": "jpeg", "quality": FRAME_QUALITY, "maxWidth": width, "maxHeight": height,
            "everyNthFrame": 1})
        await recording.started()
        await _play(page, opts, recording)
        await cdp.send("Page.stopScreencast")
        data = await recording.finish()
    finally:
        recording.stop()
        cdp.remove_listener("Page.screencastFrame", recording.frame)
        if own:
            with contextlib.suppress(Exception):
                await cdp.detach()
    log.debug("video: %d frames drawn, %d shown, %d ticks", encoder.received, encoder.shown,
              encoder.frames)
    return data, (width, height)


async def _play(page: Page, opts: RenderOptions, recording: _Recording) -> None:
    """What happens during the recording: the scroll and the actions, until its end."""
    assert opts.duration
    if opts.scroll:
        await page.evaluate(SCROLL_THROUGH, int(opts.duration * 1000))
    left = recording.left()
    if opts.actions:
        deadline = Deadline(int(left * 1000))
        try:
            await asyncio.wait_for(steps.run_actions(page, opts.actions, deadline), left)
        except TimeoutError:
            pass  # the recording ended first: the later steps are not in it
    await asyncio.sleep(recording.left())


class _Recording:
    """The frames of one screencast on their way to the encoder."""

    def __init__(self, cdp: CDPSession, encoder: VideoEncoder, duration: float) -> None:
        self.cdp, self.encoder, self.duration = cdp, encoder, duration
        self.queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(QUEUE_FRAMES)
        self.start: float | None = None
        self.first = asyncio.get_running_loop().create_future()
        self.feeder = asyncio.create_task(self._feed())
        self.takers: set[asyncio.Task[None]] = set()
        self.ended = False
        self.closed = False

    def frame(self, event: dict[str, Any]) -> None:
        """A screencast frame: queued, then acknowledged (in a task: this is an event handler)."""
        now = time.monotonic()
        if self.start is None:
            self.start = now
            if not self.first.done():
                self.first.set_result(None)
        at = now - self.start
        task = asyncio.create_task(self._take(at, event))
        self.takers.add(task)
        task.add_done_callback(self.takers.discard)

    async def _take(self, at: float, event: dict[str, Any]) -> None:
        if not self.ended and at < self.duration:
            await self.queue.put((at, base64.b64decode(event["data"])))
        if not self.ended:
            with contextlib.suppress(Exception):  # the page may be closing
                await self.cdp.send("Page.screencastFrameAck", {"sessionId": event["sessionId"]})

    async def started(self) -> None:
        """Wait for the first frame: the recording starts then."""
        try:
            await asyncio.wait_for(asyncio.shield(self.first), FIRST_FRAME_TIMEOUT_S)
        except TimeoutError:
            raise errors.CaptureTimeout(
                f"the page drew no frame to record within {FIRST_FRAME_TIMEOUT_S} s") from None

    def left(self) -> float:
        """Seconds until the recording ends."""
        assert self.start is not None
        return max(0.0, self.duration - (time.monotonic() - self.start))

    async def _feed(self) -> None:
        while (item := await self.queue.get()) is not None:
            await asyncio.to_thread(self.encoder.add, *item)

    async def finish(self) -> bytes:
        """The frames still queued encoded, then the file."""
        self.ended = True
        for task in list(self.takers):
            task.cancel()
        await self.queue.put(None)
        await self.feeder
        self.closed = True
        return await asyncio.to_thread(self.encoder.finish)

    def stop(self) -> None:
        """After a failure (or a cancel): stop taking frames, and free the encoder once the
        frame it may be encoding in its thread is done, in the background."""
        if self.closed:
            return
        self.closed = self.ended = True
        for task in list(self.takers):
            task.cancel()
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)
        task = asyncio.create_task(self._close())
        _CLOSING.add(task)
        task.add_done_callback(_CLOSING.discard)

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            await self.feeder
        await asyncio.to_thread(self.encoder.close)


#: Encoders being freed after a failed recording (a task needs an owner until it ends).
_CLOSING: set[asyncio.Task[None]] = set()
