"""The parameters of a video: a recording of the page (``/video``, or ``format`` mp4 or webm).

A video is a capture whose ``format`` is ``mp4`` (H.264) or ``webm`` (VP9). Everything that
prepares the page applies as for a picture (emulation, blocking, ``styles``, ``click``,
``delay``...); then the page is recorded for ``duration`` seconds at ``fps`` frames a second,
while ``scroll`` scrolls smoothly through it and ``actions`` are replayed, each after its
``delay``. The fields here are keyed like every render option, and only for videos, so the keys
of pictures do not change.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from screenshotd.params.values import Bool

VIDEO_FORMATS = ("mp4", "webm")
DEFAULT_DURATION_S = 5
DEFAULT_FPS = 25
#: The most work one video may be: device pixels of a frame × frames. 1280×800 at 25 fps for
#: 60 s is exactly this; a bigger frame, a higher density or more fps shortens the longest video.
MAX_PIXEL_FRAMES = 1280 * 800 * 25 * 60

#: What a video cannot be combined with: each names a way of making a still picture.
_STILL_ONLY = {
    "full_page": "a video records the viewport; scroll=true moves through the whole page",
    "selector": "a video records the whole viewport",
    "clip_width": "a video records the whole viewport",
    "omit_background": "a video has no transparency",
    "image_width": "a video is recorded at the viewport's size",
    "image_height": "a video is recorded at the viewport's size",
    "outputs": "a video gives the recording only",
    "extract_content": "a video gives the recording only",
    "metadata": "a video gives the recording only",
}


class VideoFields(BaseModel):
    """The options only a video has (mixed into the render options)."""

    #: A mixin, never validated alone: only the whole options model is built.
    model_config = ConfigDict(defer_build=True)

    duration: Annotated[float, Field(ge=1, le=60)] | None = Field(
        default=None, description="Video only: seconds recorded, 1-60 (default 5).")
    fps: Annotated[int, Field(ge=1, le=30)] | None = Field(
        default=None, description="Video only: frames per second, 1-30 (default 25).")
    scroll: Bool = Field(
        default=False, description="Video only: scroll smoothly through the whole page over "
        "the duration.")


def is_video(fmt: str) -> bool:
    return fmt in VIDEO_FORMATS


def resolve(opts: Any, set_: Any) -> None:
    """Check a capture's video fields once its viewport is known: defaults for a video, a 400
    naming the field for what a video cannot do, for a picture given video fields, or for a
    video over :data:`MAX_PIXEL_FRAMES`."""
    if not is_video(opts.format):
        for name in ("duration", "fps", "scroll"):
            if getattr(opts, name) not in (None, False):
                raise PydanticCustomError(
                    "video_only", "{name} is for videos: use /video, or format mp4 or webm",
                    {"name": name, "field": name})
        return
    for name, why in _STILL_ONLY.items():
        if getattr(opts, name) not in (None, False, 0):
            raise PydanticCustomError("video", "{name} cannot be used with a video: {why}",
                                      {"name": name, "why": why, "field": name})
    if opts.duration is None:
        set_(opts, "duration", DEFAULT_DURATION_S)
    if opts.fps is None:
        set_(opts, "fps", DEFAULT_FPS)
    width, height = frame_size(opts.width, opts.height, opts.device_scale_factor)
    frames = frame_count(opts.duration, opts.fps)
    if width * height * frames > MAX_PIXEL_FRAMES:
        raise PydanticCustomError(
            "video_too_big", "{size} device pixels × {frames} frames is over the most a video "
            "may be ({limit} pixel-frames: 1280×800 at 25 fps for 60 s); lower duration, fps "
            "or the viewport", {"size": f"{width}×{height}", "frames": frames,
                               "limit": f"{MAX_PIXEL_FRAMES:,}", "field": "duration"})


def frame_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """A video frame's size in device pixels, rounded down to even numbers (H.264 and VP9
    store colour at half resolution)."""
    return round(width * scale) // 2 * 2, round(height * scale) // 2 * 2


def frame_count(duration: float, fps: int) -> int:
    return max(1, round(duration * fps))


def video_time(opts: Any) -> float:
    """Seconds a capture needs beyond its page's ``timeout``: a video's recording, and its
    encoding (at most as long again, on a busy machine)."""
    return 2 * opts.duration + 5 if is_video(opts.format) and opts.duration else 0.0
