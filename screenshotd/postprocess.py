"""Post-processing of Chromium's output with Pillow: resize, re-encode, measure.

These are plain synchronous functions; the service runs them in a worker thread when they
decode pixels, and inline when they only read a header.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from PIL import Image

from . import errors
from .options import CaptureOptions

#: Largest image we decode, in pixels; Chromium can make bigger ones at a high scale factor.
MAX_DECODE_PIXELS = 200_000_000


@dataclass
class Output:
    data: bytes
    width: int | None
    height: int | None


def needs_pixels(opts: CaptureOptions, kind: str) -> bool:
    """Whether Chromium's bytes must be decoded (resize or a format Chromium cannot write)."""
    if opts.format == "pdf":
        return False
    return bool(opts.image_width or opts.image_height) or opts.format != kind


def finish(data: bytes, kind: str, opts: CaptureOptions) -> Output:
    """Turn Chromium's ``kind`` bytes into the output ``opts`` asks for."""
    if opts.format == "pdf":
        return Output(data, None, None)
    if not needs_pixels(opts, kind):
        width, height = image_size(data)
        return Output(data, width, height)
    image = _open(data)
    target = _target_size(image.size, opts.image_width, opts.image_height)
    if target != image.size:
        image = image.resize(target, Image.Resampling.LANCZOS)
    return Output(encode(image, opts.format, opts.quality), image.width, image.height)


def encode(image: Image.Image, fmt: str, quality: int) -> bytes:
    buffer = io.BytesIO()
    if fmt == "jpeg":
        if image.mode in ("RGBA", "LA", "P"):
            flat = Image.new("RGB", image.size, (255, 255, 255))
            flat.paste(image, mask=image.convert("RGBA").getchannel("A"))
            image = flat
        image.convert("RGB").save(buffer, "JPEG", quality=quality, optimize=False)
    elif fmt == "webp":
        image.save(buffer, "WEBP", quality=quality, method=4)
    else:
        image.save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height from the header, without decoding pixels."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def _open(data: bytes) -> Image.Image:
    width, height = image_size(data)
    if width * height > MAX_DECODE_PIXELS:
        raise errors.PayloadTooLarge(
            f"the capture is {width}x{height} px, too large to re-encode; "
            "lower device_scale_factor, the height, or use png/jpeg without resizing"
        )
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _target_size(size: tuple[int, int], width: int, height: int) -> tuple[int, int]:
    src_w, src_h = size
    if width and height:
        return width, height
    if width:
        return width, max(1, round(src_h * width / src_w))
    if height:
        return max(1, round(src_w * height / src_h)), height
    return size
