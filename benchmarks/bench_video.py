"""Videos: encoding against real time, the recorder against raw PyAV, and the service's memory
while it records 30 s.

1. **Encoding.** Frames of a real page scrolling (a corpus page captured full-page by the
   service, cut into 1280×800 windows that move 12 px a frame, as JPEG like Chromium's
   screencast sends them), 10 s at 25 fps, every frame different: the worst case for an
   encoder. Timed through :class:`~screenshotd.imaging.video.VideoEncoder` (JPEG decode,
   timeline, encode, one thread) for mp4 and webm. Ratios: encode seconds per second of video
   (under 1.0: it keeps up with real time on one core), and the encoder against a bare PyAV loop
   given the same frames already decoded (what the timeline and the JPEG decode add). Medians
   of 3 alternating runs.
2. **A recording through the service.** ``POST /video`` of the same page, 30 s at 25 fps and
   1280×800 with ``scroll=true``, against a ``screenshotd serve`` process: the wall time over the
   30 s recorded, and the server process's resident memory, sampled every 50 ms, before and at
   its peak (the frames and the encoder live there; Chromium's own memory is Chromium's).

    python benchmarks/bench_video.py [--page ars-1] [--seconds 10]
"""

from __future__ import annotations

import argparse
import io
import statistics
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
from common import local_site, report, screenshotd_process
from PIL import Image

from screenshotd.imaging.video import CODECS, VideoEncoder

FPS = 25
WIDTH, HEIGHT = 1280, 800


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def scrolling_frames(page: bytes, count: int) -> list[bytes]:
    """``count`` JPEG frames of the page scrolling down 12 px a frame (wrapping around)."""
    image = Image.open(io.BytesIO(page)).convert("RGB")
    tall = image.height
    frames = []
    for index in range(count):
        top = (index * 12) % max(1, tall - HEIGHT)
        window = image.crop((0, top, WIDTH, top + HEIGHT))
        out = io.BytesIO()
        window.save(out, "JPEG", quality=90)
        frames.append(out.getvalue())
    return frames


def encode(fmt: str, frames: list[bytes]) -> tuple[float, int]:
    started = time.perf_counter()
    encoder = VideoEncoder(fmt, WIDTH, HEIGHT, FPS, len(frames))
    for index, jpeg in enumerate(frames):
        encoder.add(index / FPS, jpeg)
    size = len(encoder.finish())
    return time.perf_counter() - started, size


def bare(fmt: str, pixels: list[np.ndarray]) -> tuple[float, int]:
    """The least an encode can be: PyAV alone, the frames already decoded to the encoder's
    own pixel format (a fresh frame each), same codec and settings."""
    codec, options = CODECS[fmt]
    out = io.BytesIO()
    started = time.perf_counter()
    with av.open(out, "w", format="matroska" if fmt == "webm" else fmt) as container:
        stream = container.add_stream(codec, rate=FPS, options=options)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"  # type: ignore[union-attr]
        stream.thread_count = 1  # type: ignore[union-attr]
        for index, array in enumerate(pixels):
            frame = av.VideoFrame.from_ndarray(array, format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            for packet in stream.encode(frame):  # type: ignore[union-attr]
                container.mux(packet)
        for packet in stream.encode(None):  # type: ignore[union-attr]
            container.mux(packet)
    return time.perf_counter() - started, len(out.getvalue())


def record(base: str, pid: int, url: str, seconds: int) -> dict[str, Any]:
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(rss_mb(pid))
            time.sleep(0.05)

    before = rss_mb(pid)
    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    try:
        response = httpx.post(f"{base}/video", json={
            "url": url, "duration": seconds, "fps": FPS, "width": WIDTH, "height": HEIGHT,
            "scroll": True, "response_type": "json"}, timeout=seconds * 4 + 60)
    finally:
        done.set()
        sampler.join()
    wall = time.perf_counter() - started
    assert response.status_code == 200, response.text
    body = response.json()
    return {"seconds": seconds, "wall_s": round(wall, 2),
            "wall_over_duration": round(wall / seconds, 3), "video_bytes": body["size"],
            "rss_before_mb": round(before, 1), "rss_peak_mb": round(max(samples), 1),
            "rss_growth_mb": round(max(samples) - before, 1)}


def main(page: str, seconds: int) -> dict[str, Any]:
    result: dict[str, Any] = {"page": page, "fps": FPS, "size": f"{WIDTH}x{HEIGHT}"}
    with local_site() as site, screenshotd_process(BROWSER_MAX_CONCURRENT="2") as (base, pid):
        url = f"{site}/corpus/{page}/source.html"
        shot = httpx.post(f"{base}/screenshot", json={"url": url, "full_page": True,
                                                     "width": WIDTH}, timeout=120)
        assert shot.status_code == 200, shot.text
        frames = scrolling_frames(shot.content, seconds * FPS)
        pixels = [av.VideoFrame.from_ndarray(np.asarray(Image.open(io.BytesIO(f)).convert("RGB")),
                                             format="rgb24").to_ndarray(format="yuv420p").copy()
                  for f in frames]
        for fmt in ("mp4", "webm"):  # alternating, 3 times: the medians
            runs = [(encode(fmt, frames), bare(fmt, pixels)) for _ in range(3)]
            ours = statistics.median(run[0][0] for run in runs)
            least = statistics.median(run[1][0] for run in runs)
            result[fmt] = {"encode_s_per_video_s": round(ours / seconds, 3),
                           "bare_pyav_s_per_video_s": round(least / seconds, 3),
                           "encoder_over_bare_pyav": round(ours / least, 3),
                           "bytes": runs[0][0][1], "bare_bytes": runs[0][1][1]}
            print(fmt, result[fmt], flush=True)
        result["recording"] = record(base, pid, url, 30)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", default="ars-1")
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    report("video", main(args.page, args.seconds))
