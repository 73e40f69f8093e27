"""Images in and out of the diff: guarded decoding to RGBA arrays, and PNG encoding.

Plain synchronous functions; the diff runs them in a worker thread.

Uploaded images are hostile input. A few kilobytes of PNG can claim billions of pixels (a
decompression bomb), so the size in the header is checked against our own limit before a single
pixel is decoded; Pillow's own limit (about 89 million pixels, a warning, and an error at twice
that) is far above what a diff should take on. Only PNG, JPEG and WebP are opened at all: Pillow
is told not to try its other decoders.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from screenshotd import errors

#: The formats the diff accepts, as Pillow names them.
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP")

#: Magic numbers of formats people send by mistake, to name them in the error.
_OTHER_FORMATS = {b"GIF8": "GIF", b"BM": "BMP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF",
                  b"%PDF": "PDF", b"<svg": "SVG", b"<?xm": "XML/SVG", b"\x00\x00\x01\x00": "ICO"}


def decode_rgba(data: bytes, *, field: str, max_pixels: int) -> np.ndarray:
    """Decode PNG, JPEG or WebP bytes to a ``(height, width, 4)`` uint8 array.

    Raises :class:`errors.ValidationError` for anything else or a broken image, and
    :class:`errors.PayloadTooLarge` for an image over ``max_pixels``; both name ``field``. An
    animated image gives its first frame; a JPEG's EXIF orientation is applied, as browsers
    do.
    """
    if not data:
        raise errors.ValidationError(f"{field} is empty", field=field)
    try:
        with warnings.catch_warnings():
            # Pillow warns of big images as it opens them; the limit below is ours to enforce.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        raise errors.ValidationError(
            f"{field} is not a PNG, JPEG or WebP image{_named(data)}", field=field
        ) from None
    except Image.DecompressionBombError:
        raise errors.PayloadTooLarge(
            f"{field} is over this server's limit of {max_pixels:,} pixels per image "
            "(DIFF_MAX_PIXELS)", field=field,
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise errors.ValidationError(f"{field} could not be read: {exc}", field=field) from None
    with image:
        fmt = image.format
        width, height = image.size
        if width * height > max_pixels:
            raise errors.PayloadTooLarge(
                f"{field} is {width}x{height} px, over this server's limit of "
                f"{max_pixels:,} pixels per image (DIFF_MAX_PIXELS)", field=field,
            )
        if width == 0 or height == 0:
            raise errors.ValidationError(f"{field} has no pixels", field=field)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image.load()
                image = ImageOps.exif_transpose(image) or image
                rgba = _to_rgba(image)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning,
                Image.DecompressionBombError) as exc:
            raise errors.ValidationError(
                f"{field} could not be decoded as {fmt}: {exc}", field=field
            ) from None
    return rgba


def _to_rgba(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: keep the high byte, as an 8-bit reader would.
        grey = (np.asarray(image, dtype=np.uint32) >> 8).clip(0, 255).astype(np.uint8)
        rgba = np.empty((*grey.shape, 4), dtype=np.uint8)
        rgba[..., :3] = grey[..., None]
        rgba[..., 3] = 255
        return rgba
    if image.mode != "RGBA":
        image = image.convert("RGBA")
    return np.array(image, dtype=np.uint8)


def _named(data: bytes) -> str:
    head = data[:4].lstrip()
    for magic, name in _OTHER_FORMATS.items():
        if head.startswith(magic):
            return f" (it looks like {name})"
    return ""


def encode_png(pixels: np.ndarray) -> bytes:
    """A ``(height, width, 4)`` uint8 array as PNG. The diff image is mostly flat grey, which
    compresses well even at a fast level."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()
