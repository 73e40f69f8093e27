"""Post-processing of Chromium's output with Pillow: resize, re-encode, measure.

These are plain synchronous functions; the service runs them in a worker thread when they
decode pixels, and inline when they only read a header.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from PIL import Image

from screenshotd import errors
from screenshotd.params.capture import RenderOptions

#: Largest image we decode, in pixels; Chromium can make bigger ones at a high scale factor.
MAX_DECODE_PIXELS = 200_000_000


@dataclass
class Output:
    data: bytes
    width: int | None
    height: int | None


#: How far Chromium's viewport capture may miss the viewport size before we trust it as is.
#: On a page without a meta viewport, mobile emulation zooms out and rounds a pixel away.
VIEWPORT_SLACK_PX = 2


def viewport_pixels(opts: RenderOptions) -> tuple[int, int] | None:
    """The device-pixel size of a plain viewport capture, or None for other kinds."""
    if opts.full_page or opts.selector or opts.clip or opts.format == "pdf" or opts.is_video:
        return None
    assert opts.width and opts.height and opts.device_scale_factor
    scale = opts.device_scale_factor
    return round(opts.width * scale), round(opts.height * scale)


def needs_pixels(opts: RenderOptions, kind: str, size: tuple[int, int] | None = None,
                 expected: tuple[int, int] | None = None) -> bool:
    """Whether Chromium's bytes must be decoded: a resize, a format Chromium cannot write, or
    a viewport capture a pixel or two off the viewport size."""
    if opts.format == "pdf" or opts.is_video:
        return False
    if opts.image_width or opts.image_height or opts.format != kind:
        return True
    return _off_by_rounding(size, expected)


def _off_by_rounding(size: tuple[int, int] | None, expected: tuple[int, int] | None) -> bool:
    if size is None or expected is None or size == expected:
        return False
    return all(abs(a - b) <= VIEWPORT_SLACK_PX for a, b in zip(size, expected, strict=True))


def finish(data: bytes, kind: str, opts: RenderOptions,
           expected: tuple[int, int] | None = None) -> Output:
    """Turn Chromium's ``kind`` bytes into the output ``opts`` asks for.

    ``expected`` is the device-pixel size of a plain viewport capture; an image within
    :data:`VIEWPORT_SLACK_PX` of it is brought to exactly that size by repeating or dropping
    its last rows and columns.
    """
    if opts.format == "pdf" or opts.is_video:  # not pixels: kept as Chromium (or PyAV) made
        return Output(data, None, None)
    size = image_size(data)
    if not needs_pixels(opts, kind, size, expected):
        return Output(data, *size)
    image = _open(data)
    if expected is not None and _off_by_rounding(size, expected):
        image = _fit_canvas(image, expected)
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


def _fit_canvas(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Crop or extend ``image`` to ``size``, extending by repeating the edge pixels."""
    width, height = size
    canvas = image.crop((0, 0, min(width, image.width), min(height, image.height)))
    if canvas.size == size:
        return canvas
    out = Image.new(image.mode, size)
    out.paste(canvas, (0, 0))
    if canvas.width < width:
        column = canvas.crop((canvas.width - 1, 0, canvas.width, canvas.height))
        for x in range(canvas.width, width):
            out.paste(column, (x, 0))
    if canvas.height < height:
        row = out.crop((0, canvas.height - 1, width, canvas.height))
        for y in range(canvas.height, height):
            out.paste(row, (0, y))
    return out


def _target_size(size: tuple[int, int], width: int, height: int) -> tuple[int, int]:
    src_w, src_h = size
    if width and height:
        return width, height
    if width:
        return width, max(1, round(src_h * width / src_w))
    if height:
        return max(1, round(src_w * height / src_h)), height
    return size
