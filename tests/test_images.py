"""Guarded decoding for the diff: formats, bombs, broken files, odd modes."""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from screenshotd import errors
from screenshotd.imaging.images import decode_rgba, encode_png

LIMIT = 50_000_000


def encoded(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def bomb_png(width: int, height: int) -> bytes:
    """A real decompression bomb: a 1-bit greyscale PNG of all-zero rows, which deflate to
    almost nothing (10000x10000 is about 12 KB on disk and 100 million pixels decoded)."""
    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def test_png_jpeg_and_webp_decode_to_rgba() -> None:
    image = Image.new("RGB", (30, 20), (10, 200, 30))
    for fmt, tolerance in (("PNG", 0), ("JPEG", 3), ("WEBP", 3)):
        pixels = decode_rgba(encoded(image, fmt, quality=95) if fmt != "PNG"
                             else encoded(image, fmt), field="image1", max_pixels=LIMIT)
        assert pixels.shape == (20, 30, 4) and pixels.dtype == np.uint8
        assert (pixels[..., 3] == 255).all()
        assert np.abs(pixels[..., :3].astype(int) - (10, 200, 30)).max() <= tolerance, fmt


def test_other_formats_are_refused_by_name() -> None:
    gif = encoded(Image.new("RGB", (4, 4)), "GIF")
    with pytest.raises(errors.ValidationError, match="not a PNG, JPEG or WebP.*GIF") as caught:
        decode_rgba(gif, field="image2", max_pixels=LIMIT)
    assert caught.value.field == "image2"
    for data in (b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"hello", b"%PDF-1.7"):
        with pytest.raises(errors.ValidationError):
            decode_rgba(data, field="image1", max_pixels=LIMIT)
    with pytest.raises(errors.ValidationError, match="empty"):
        decode_rgba(b"", field="image1", max_pixels=LIMIT)


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    """100 million pixels in 12 KB: over our limit (and over Pillow's warning level), refused
    from the header alone, in well under the time decoding would take."""
    bomb = bomb_png(10_000, 10_000)
    assert len(bomb) < 64 * 1024
    started = time.perf_counter()
    with pytest.raises(errors.PayloadTooLarge, match="10000x10000") as caught:
        decode_rgba(bomb, field="image1", max_pixels=LIMIT)
    assert time.perf_counter() - started < 0.5
    assert caught.value.status == 413 and caught.value.field == "image1"
    # Our limit is below Pillow's own, so a bomb Pillow would let through is still refused.
    assert LIMIT < Image.MAX_IMAGE_PIXELS
    with pytest.raises(errors.PayloadTooLarge):
        decode_rgba(bomb_png(8000, 8000), field="image1", max_pixels=LIMIT)


def test_truncated_and_corrupt_images_are_a_clear_400() -> None:
    data = encoded(Image.new("RGB", (200, 200), (1, 2, 3)), "PNG")
    with pytest.raises(errors.ValidationError, match="could not be (read|decoded as PNG)"):
        decode_rgba(data[: len(data) // 2], field="image1", max_pixels=LIMIT)
    jpeg = encoded(Image.effect_noise((64, 64), 50).convert("RGB"), "JPEG")
    with pytest.raises(errors.ValidationError):
        decode_rgba(jpeg[:200], field="image2", max_pixels=LIMIT)


def test_modes_are_converted_as_a_viewer_shows_them() -> None:
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putpixel((1, 1), 1)
    pixels = decode_rgba(encoded(palette, "PNG", transparency=0), field="i", max_pixels=LIMIT)
    assert tuple(pixels[0, 0]) == (255, 0, 0, 0)  # the transparent palette entry
    assert tuple(pixels[1, 1]) == (0, 0, 255, 255)
    grey16 = Image.fromarray(np.full((3, 3), 0x8000, dtype=np.uint16))
    pixels = decode_rgba(encoded(grey16, "PNG"), field="i", max_pixels=LIMIT)
    assert tuple(pixels[0, 0]) == (128, 128, 128, 255)
    la = Image.new("LA", (2, 2), (77, 100))
    assert tuple(decode_rgba(encoded(la, "PNG"), field="i", max_pixels=LIMIT)[0, 0]) == (
        77, 77, 77, 100)


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (40, 20), (255, 255, 255))
    image.paste((0, 0, 0), (0, 0, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    pixels = decode_rgba(encoded(image, "JPEG", exif=exif, quality=95), field="i",
                         max_pixels=LIMIT)
    assert pixels.shape[:2] == (40, 20)  # displayed upright: 20 wide, 40 tall
    assert pixels[2, 17, 0] < 40  # the black corner went to the top right


def test_encode_png_round_trips() -> None:
    pixels = np.random.default_rng(1).integers(0, 256, size=(7, 9, 4), dtype=np.uint8)
    assert np.array_equal(decode_rgba(encode_png(pixels), field="i", max_pixels=LIMIT), pixels)
