"""VideoEncoder: frames drawn at irregular times in, a constant-rate MP4 or WebM out (PyAV).

Chromium draws a frame only when the page's pixels change, so frames arrive at irregular times,
sometimes many a tick, sometimes none for seconds. The encoder lays them on a timeline of
``frames`` ticks at ``fps``: each tick shows the latest frame drawn by its time. A still page
gives a still video of the right length; a frame that another replaced before the next tick is
never decoded. The first frame also stands for the ticks before it.

H.264 (``libx264``, ``veryfast``) goes in MP4 with its index at the front, so a browser plays it
while it downloads; VP9 (``libvpx-vp9``, real-time settings) goes in WebM. Both ship in PyAV's
wheels. Each method does CPU work: call them from one thread at a time, never the event loop.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from fractions import Fraction
from typing import cast

import av
from av.video.frame import PictureType

#: Per format: the container, the codec and its options. Chosen so that encoding keeps up with
#: real time on one core at 1280×800 and 25 fps (benchmarks/bench_video.py).
CODECS: dict[str, tuple[str, dict[str, str]]] = {
    "mp4": ("libx264", {"preset": "veryfast", "crf": "23", "profile": "high"}),
    "webm": ("libvpx-vp9", {"deadline": "realtime", "cpu-used": "8", "row-mt": "1",
                            "crf": "33", "b": "0"}),
}
_CONTAINER_OPTIONS = {"mp4": {"movflags": "+faststart"}, "webm": {}}


class VideoEncoder:
    """One video being encoded; :meth:`add` frames in time order, then :meth:`finish`."""

    def __init__(self, fmt: str, width: int, height: int, fps: int, frames: int) -> None:
        self.width, self.height, self.fps, self.frames = width, height, fps, frames
        # A file, not memory: the encoded video grows on disk, and MP4's index is moved to the
        # front by FFmpeg reopening it by name.
        handle, self._path = tempfile.mkstemp(prefix="screenshotd-video-", suffix=f".{fmt}")
        os.close(handle)
        try:
            self._container = av.open(self._path, "w", format=fmt,
                                      options=_CONTAINER_OPTIONS[fmt])
        except BaseException:
            os.unlink(self._path)
            raise
        codec, options = CODECS[fmt]
        self._stream = cast(av.VideoStream,
                            self._container.add_stream(codec, rate=fps, options=options))
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        self._stream.thread_count = 1
        self._time_base = Fraction(1, fps)
        self._jpegs = av.CodecContext.create("mjpeg", "r")
        #: Ticks written so far; the frame on screen now (as JPEG until it is first written).
        self.written = 0
        self._jpeg: bytes | None = None
        self._frame: av.VideoFrame | None = None
        #: Frames Chromium drew, and how many of them were written to at least one tick.
        self.received = 0
        self.shown = 0

    def add(self, at: float, jpeg: bytes) -> None:
        """A frame Chromium drew ``at`` seconds into the recording."""
        self.received += 1
        if self.written >= self.frames:
            return
        if self._jpeg is not None or self._frame is not None:
            self._write_until(min(self.frames, math.ceil(at * self.fps - 1e-6)))
        self._jpeg, self._frame = jpeg, None

    def finish(self) -> bytes:
        """The last frame held to the end, the encoder flushed: the file's bytes."""
        try:
            if self._jpeg is not None or self._frame is not None:
                self._write_until(self.frames)
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
            with open(self._path, "rb") as file:
                return file.read()
        finally:
            self.close()

    def close(self) -> None:
        """Free the encoder and its file (after :meth:`finish`, or instead of it)."""
        try:
            self._container.close()
        except (av.FFmpegError, ValueError, OSError):
            pass
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)

    def _write_until(self, tick: int) -> None:
        if tick <= self.written:
            return
        frame = self._current()
        while self.written < tick:
            frame.pts = self.written
            frame.time_base = self._time_base
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
            self.written += 1

    def _current(self) -> av.VideoFrame:
        if self._frame is None:
            assert self._jpeg is not None
            decoded = self._jpegs.decode(av.Packet(self._jpeg))
            if not decoded:
                raise ValueError("Chromium sent a frame that is not a JPEG")
            # A frame a pixel or so off the video's size (odd sizes are rounded down to even)
            # is scaled to it, in the same pass as the colour conversion.
            # JPEG's full range of levels becomes video's limited one, as players expect.
            self._frame = decoded[0].reformat(width=self.width, height=self.height,
                                              format="yuv420p", src_color_range=2,
                                              dst_color_range=1)
            # Every JPEG is a key frame, and the encoder would obey that, frame after frame:
            # the encoder chooses.
            self._frame.pict_type = PictureType.NONE
            self._jpeg = None
            self.shown += 1
        return self._frame
