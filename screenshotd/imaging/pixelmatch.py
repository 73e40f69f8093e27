"""A pixel diff that counts exactly as pixelmatch 7.1.0 does, vectorised with NumPy.

Pure functions on ``(height, width, 4)`` uint8 RGBA arrays: no I/O, no Pillow. Decoding and
encoding live in :mod:`screenshotd.imaging.images`.

The algorithm, as pixelmatch publishes it:

1. Pixels whose four bytes are equal in both images are the same. For the others, the colour
   distance is the YIQ metric of Kotsarenko and Ramos. A pixel that is not fully opaque in
   either image is first blended over a background of its own; since 7.0 that background is a
   pattern of two greys chosen from the pixel's byte offset, not white.
2. A pixel whose distance is above ``35215 * threshold**2`` is a candidate. It is counted
   unless it looks like anti-aliasing in either image (Vysniauskas, 2009): among its eight
   neighbours it has at most two of exactly the same brightness, it has both a darker and a
   brighter neighbour, and the darkest or the brightest of those sits in a flat area (three or
   more equal neighbours) in both images. ``include_aa`` counts such pixels too.
3. The diff image shows counted pixels in ``diff_color`` (``diff_color_alt`` where the second
   image is darker), anti-aliased ones in ``aa_color``, and the rest as the first image in grey,
   faded towards white by ``alpha``. ``diff_mask`` draws only the counted pixels, on
   transparency.

Every floating-point expression keeps pixelmatch's order of operations, so sums round the same
way and the counts (and the diff image's bytes) are identical, not merely close. Grey values
are truncated as a Node.js ``Buffer`` stores them, which is what pixelmatch's own tests use.

Work is done in bands of rows, so the temporaries stay a few tens of MB whatever the image size,
and the slow steps (the colour distance, the anti-aliasing test) only ever see the pixels that
need them: the distance runs on pixels that differ, the anti-aliasing test on candidates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from screenshotd.params.diff import RGB, DiffOptions

Pixels = NDArray[np.uint8]

#: The largest value the YIQ distance can take; the threshold scales it.
MAX_YIQ_DELTA = 35215
#: Pixels per band: bounds the temporaries of one step.
BAND_PIXELS = 1 << 18

_Y = (0.29889531, 0.58662247, 0.11448223)
_I = (0.59597799, 0.27417610, 0.32180189)
_Q = (0.21147017, 0.52261711, 0.31114694)
_PHI = 1.618033988749895
_PHI_SQ = 2.618033988749895

#: The eight neighbours in the order pixelmatch visits them (x outer, y inner). When two
#: neighbours are equally dark (or bright), the first in this order is the one remembered.
Neighbourhood = tuple[NDArray[np.int64], NDArray[np.bool_], NDArray[np.int64]]

_NEIGHBOURS = np.array(
    [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if (dx, dy) != (0, 0)], dtype=np.int64
)


@dataclass
class Counts:
    """What one pixelmatch pass found."""

    changed: int = 0
    #: Candidates that were not counted because they look like anti-aliasing (0 when
    #: ``include_aa`` skips the test).
    antialiased: int = 0


# --------------------------------------------------------------------------- pixelmatch


def pixelmatch(
    img1: Pixels, img2: Pixels, output: Pixels | None = None,
    options: DiffOptions | None = None, **option_values: Any,
) -> int:
    """The number of changed pixels between two equally sized RGBA images, as pixelmatch 7.1.0
    counts them. When ``output`` (same shape, uint8) is given, the diff image is drawn into it.

    Options come as a :class:`DiffOptions` or as its fields by name:
    ``pixelmatch(a, b, threshold=0.05, include_aa=True)``."""
    return match(img1, img2, output, _options(options, option_values)).changed


def _options(options: DiffOptions | None, values: dict[str, Any]) -> DiffOptions:
    if options is not None and values:
        raise TypeError("give options as a DiffOptions or by name, not both")
    return options or DiffOptions(**values)


def match(img1: Pixels, img2: Pixels, output: Pixels | None, options: DiffOptions) -> Counts:
    """:func:`pixelmatch`, returning the anti-aliased count as well."""
    _check_pair(img1, img2, output)
    height, width = img1.shape[:2]
    if not img1.size:
        return Counts()
    a32 = _words(img1)
    b32 = _words(img2)
    out32 = None if output is None else output.reshape(-1).view(np.uint32)
    max_delta = MAX_YIQ_DELTA * options.threshold * options.threshold
    counts = Counts()
    rows = max(1, BAND_PIXELS // width)
    for top in range(0, height, rows):
        start, stop = top * width, min(height, top + rows) * width
        differ = start + np.flatnonzero(a32[start:stop] != b32[start:stop])
        delta = _color_delta(_bytes(a32[differ]), _bytes(b32[differ]), differ * 4)
        over = np.abs(delta) > max_delta
        hit = differ[over]
        darker = delta[over] < 0
        aa = np.zeros(hit.size, dtype=bool)
        if hit.size and not options.include_aa:
            around = _neighbourhood(hit, width, height)
            aa = _antialiased(a32, hit, around, a32, b32, width, height)
            rest = np.flatnonzero(~aa)
            if rest.size:
                subset = (around[0][:, rest], around[1][:, rest], around[2][rest])
                aa[rest] = _antialiased(b32, hit[rest], subset, a32, b32, width, height)
        counts.changed += int(hit.size - np.count_nonzero(aa))
        counts.antialiased += int(np.count_nonzero(aa))
        if out32 is not None:
            _draw_band(out32, a32, start, stop, hit, aa, darker, options)
    return counts


def _check_pair(img1: Pixels, img2: Pixels, output: Pixels | None) -> None:
    for name, img in (("img1", img1), ("img2", img2), ("output", output)):
        if img is None:
            continue
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 4:
            raise ValueError(f"{name} must be a (height, width, 4) uint8 array")
    if img1.shape != img2.shape or (output is not None and output.shape != img1.shape):
        raise ValueError("image sizes do not match")
    if output is not None and not output.flags.c_contiguous:
        raise ValueError("output must be C-contiguous")


def _words(img: Pixels) -> NDArray[np.uint32]:
    """One uint32 per pixel (its four bytes, in memory order), for cheap gathers and "are
    these pixels identical" tests."""
    return np.ascontiguousarray(img).reshape(-1).view(np.uint32)


def _bytes(words: NDArray[np.uint32]) -> NDArray[np.uint8]:
    """Words back as RGBA bytes: shape ``words.shape + (4,)``."""
    return np.ascontiguousarray(words).view(np.uint8).reshape(*words.shape, 4)


def _background(offset: NDArray[np.int64]) -> tuple[NDArray[np.int64], ...]:
    """pixelmatch 7's blending background for the pixel at byte ``offset``: each channel is 48
    or 207, chosen by the parity of the offset divided by 1, by the golden ratio and by its
    square. (pixelmatch truncates the quotients to 32 bits, which only matters past 2**29
    pixels, far above the largest image the service decodes.)"""
    k = offset.astype(np.float64)
    rb = 48 + 159 * (offset % 2)
    gb = 48 + 159 * (np.floor(k / _PHI).astype(np.int64) % 2)
    bb = 48 + 159 * (np.floor(k / _PHI_SQ).astype(np.int64) % 2)
    return rb, gb, bb


def _channel_deltas(
    p1: NDArray[np.uint8], p2: NDArray[np.uint8], offset: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Per-channel differences of pixel pairs (``(..., 4)`` arrays, broadcastable), blended
    over the background where either pixel is not opaque. ``offset`` is the first pixel's byte
    offset, broadcastable to the pairs' shape."""
    c1, c2 = np.broadcast_arrays(p1, p2)
    dr = np.subtract(c1[..., 0], c2[..., 0], dtype=np.int16).astype(np.float64)
    dg = np.subtract(c1[..., 1], c2[..., 1], dtype=np.int16).astype(np.float64)
    db = np.subtract(c1[..., 2], c2[..., 2], dtype=np.int16).astype(np.float64)
    blend = np.minimum(c1[..., 3], c2[..., 3]) < 255
    if blend.any():
        offset = np.broadcast_to(offset, blend.shape)[blend]
        rb, gb, bb = _background(offset)
        x1, x2 = c1[blend].astype(np.int64), c2[blend].astype(np.int64)
        da = x1[:, 3] - x2[:, 3]
        dr[blend] = (x1[:, 0] * x1[:, 3] - x2[:, 0] * x2[:, 3] - rb * da) / 255
        dg[blend] = (x1[:, 1] * x1[:, 3] - x2[:, 1] * x2[:, 3] - gb * da) / 255
        db[blend] = (x1[:, 2] * x1[:, 3] - x2[:, 2] * x2[:, 3] - bb * da) / 255
    return dr, dg, db


def _brightness(dr: NDArray[np.float64], dg: NDArray[np.float64],
                db: NDArray[np.float64]) -> NDArray[np.float64]:
    return dr * _Y[0] + dg * _Y[1] + db * _Y[2]


def _color_delta(p1: NDArray[np.uint8], p2: NDArray[np.uint8],
                 offset: NDArray[np.int64]) -> NDArray[np.float64]:
    """The squared YIQ distance of each pair, negative where the second pixel is darker."""
    dr, dg, db = _channel_deltas(p1, p2, offset)
    y = _brightness(dr, dg, db)
    i = dr * _I[0] - dg * _I[1] - db * _I[2]
    q = dr * _Q[0] - dg * _Q[1] + db * _Q[2]
    delta = 0.5053 * y * y + 0.299 * i * i + 0.1957 * q * q
    return np.where(y > 0, -delta, delta)


def _neighbourhood(pos: NDArray[np.int64], width: int, height: int) -> Neighbourhood:
    """For pixel indices ``pos`` (n,): their eight neighbours' indices ``(8, n)`` (clamped into
    the image), which of those are real, and 1 for a pixel on the image's edge, else 0
    (pixelmatch counts the edge as one equal neighbour).

    Arrays are neighbour-major, so NumPy's inner loops run along the pixels rather than along
    eight neighbours. Only edge pixels pay for the clamping."""
    x = pos % width
    y = pos // width
    edge = (x == 0) | (x == width - 1) | (y == 0) | (y == height - 1)
    index = (_NEIGHBOURS[:, 1] * width + _NEIGHBOURS[:, 0])[:, None] + pos
    inside = np.ones(index.shape, dtype=bool)
    rim = np.flatnonzero(edge)
    if rim.size:
        nx = x[rim] + _NEIGHBOURS[:, 0, None]
        ny = y[rim] + _NEIGHBOURS[:, 1, None]
        inside[:, rim] = (nx >= 0) & (nx < width) & (ny >= 0) & (ny < height)
        index[:, rim] = np.clip(ny, 0, height - 1) * width + np.clip(nx, 0, width - 1)
    return index, inside, edge.astype(np.int64)


def _many_siblings(pos: NDArray[np.int64], a32: NDArray[np.uint32], b32: NDArray[np.uint32],
                   width: int, height: int) -> NDArray[np.bool_]:
    """Whether each pixel has three or more neighbours of exactly its colour (the edge counting
    as one) in both images."""
    index, inside, edge = _neighbourhood(pos, width, height)
    flat = np.ones(pos.size, dtype=bool)
    for words in (a32, b32):
        same = (words[index] == words[pos]) & inside
        flat &= edge + np.count_nonzero(same, axis=0) > 2
    return flat


def _first_extreme(values: NDArray[np.float64], lower: bool) -> NDArray[np.int64]:
    """Per column of ``(8, n)`` values, the first row holding the smallest (or largest) value:
    pixelmatch's strict comparison keeps the first of equal extremes."""
    best = values[0].copy()
    which = np.zeros(values.shape[1], dtype=np.int64)
    for row in range(1, values.shape[0]):
        better = values[row] < best if lower else values[row] > best
        np.copyto(best, values[row], where=better)
        which[better] = row
    return which


def _antialiased(words: NDArray[np.uint32], pos: NDArray[np.int64], around: Neighbourhood,
                 a32: NDArray[np.uint32], b32: NDArray[np.uint32], width: int, height: int,
                 ) -> NDArray[np.bool_]:
    """Whether each pixel at ``pos`` of the image ``words`` is likely anti-aliasing. ``around``
    is the pixels' :func:`_neighbourhood`; ``a32`` and ``b32`` are both images, for the
    flat-area test."""
    result = np.zeros(pos.size, dtype=bool)
    index, inside, edge = around
    centre = words[pos]
    near = words[index]
    # A neighbour with the same bytes has a brightness delta of exactly 0. More than two of
    # them (the edge counting as one) rule a pixel out before any arithmetic.
    same = (near == centre) & inside
    maybe = np.flatnonzero(edge + np.count_nonzero(same, axis=0) <= 2)
    if not maybe.size:
        return result
    pos, index, inside, edge = pos[maybe], index[:, maybe], inside[:, maybe], edge[maybe]
    dr, dg, db = _channel_deltas(_bytes(centre[maybe]), _bytes(near[:, maybe]), pos * 4)
    y = _brightness(dr, dg, db)
    zeroes = edge + np.count_nonzero((y == 0) & inside, axis=0)
    darker = np.where(inside & (y < 0), y, np.inf)
    brighter = np.where(inside & (y > 0), y, -np.inf)
    possible = np.flatnonzero(
        (zeroes <= 2) & np.isfinite(darker.min(axis=0)) & np.isfinite(brighter.max(axis=0))
    )
    if not possible.size:
        return result
    lo = _first_extreme(darker[:, possible], lower=True)
    hi = _first_extreme(brighter[:, possible], lower=False)
    # The darkest and the brightest neighbours, tested together.
    ends = np.concatenate([index[lo, possible], index[hi, possible]])
    flat = _many_siblings(ends, a32, b32, width, height)
    result[maybe[possible]] = flat[: possible.size] | flat[possible.size:]
    return result


def _draw_band(out32: NDArray[np.uint32], a32: NDArray[np.uint32], start: int, stop: int,
               hit: NDArray[np.int64], aa: NDArray[np.bool_], darker: NDArray[np.bool_],
               options: DiffOptions) -> None:
    """Draw pixels ``[start, stop)`` of the diff image; ``hit`` are the band's candidates."""
    if not options.diff_mask:
        out32[start:stop] = faded(a32[start:stop], options.alpha)
        out32[hit[aa]] = _word(options.aa_color)
    counted = ~aa
    out32[hit[counted & ~darker]] = _word(options.diff_color)
    out32[hit[counted & darker]] = _word(options.diff_color_alt or options.diff_color)


def _word(colour: RGB) -> np.uint32:
    """An opaque colour as a pixel word."""
    return np.uint32(np.array([*colour, 255], dtype=np.uint8).view(np.uint32)[0])


def faded(words: NDArray[np.uint32], alpha: float) -> NDArray[np.uint32]:
    """pixelmatch's background for pixels given as words: each one's brightness, faded towards
    white by ``alpha`` and by its own opacity, as an opaque grey word.

    Screenshots are mostly runs of equal pixels, so the arithmetic is done once per run and
    the result repeated along it."""
    n = words.size
    if not n:
        return words.copy()
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    np.not_equal(words[1:], words[:-1], out=starts[1:])
    first = np.flatnonzero(starts)
    p = _bytes(words[first]).astype(np.float64)
    luma = p[:, 0] * _Y[0] + p[:, 1] * _Y[1] + p[:, 2] * _Y[2]
    value = 255 + (luma - 255) * alpha * p[:, 3] / 255
    grey = np.empty((first.size, 4), dtype=np.uint8)
    grey[:, :3] = value.astype(np.uint8)[:, None]  # truncation, as a Node Buffer stores it
    grey[:, 3] = 255
    lengths = np.diff(first, append=n)
    return np.repeat(grey.reshape(-1).view(np.uint32), lengths)


# --------------------------------------------------------------------------- two canvases


@dataclass
class DiffResult:
    """The comparison of two images that may differ in size."""

    width: int
    height: int
    changed_pixels: int
    antialiased_pixels: int
    #: The area compared pixel by pixel: the overlap of the two images.
    compared: tuple[int, int]
    sizes: tuple[tuple[int, int], tuple[int, int]]
    options: DiffOptions
    #: The diff image, ``(height, width, 4)``, when it was asked for.
    image: Pixels | None = field(default=None, repr=False)

    @property
    def total_pixels(self) -> int:
        return self.width * self.height

    @property
    def diff_percent(self) -> float:
        return round(100 * self.changed_pixels / self.total_pixels, 4) if self.total_pixels else 0.0

    def to_json(self) -> dict[str, Any]:
        (w1, h1), (w2, h2) = self.sizes
        return {
            "width": self.width,
            "height": self.height,
            "changed_pixels": self.changed_pixels,
            "total_pixels": self.total_pixels,
            "diff_percent": self.diff_percent,
            "has_changes": self.changed_pixels > 0,
            "threshold": self.options.threshold,
            "include_aa": self.options.include_aa,
            "antialiased_pixels": self.antialiased_pixels,
            "compared_size": {"width": self.compared[0], "height": self.compared[1]},
            "before_size": {"width": w1, "height": h1},
            "after_size": {"width": w2, "height": h2},
        }


def compare(img1: Pixels, img2: Pixels, options: DiffOptions | None = None, *,
            draw: bool = True, **option_values: Any) -> DiffResult:
    """Compare two RGBA images of any sizes on the union of their canvases.

    The overlap (the top-left ``min(w) x min(h)``) is compared by :func:`match`; every pixel
    outside either image counts as changed and is drawn in ``diff_color``. With ``draw``, the
    result carries the diff image.
    """
    options = _options(options, option_values)
    for name, img in (("img1", img1), ("img2", img2)):
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 4 or 0 in img.shape:
            raise ValueError(f"{name} must be a non-empty (height, width, 4) uint8 array")
    (h1, w1), (h2, w2) = img1.shape[:2], img2.shape[:2]
    width, height = max(w1, w2), max(h1, h2)
    cw, ch = min(w1, w2), min(h1, h2)
    same_size = (w1, h1) == (w2, h2)
    a = img1 if same_size else np.ascontiguousarray(img1[:ch, :cw])
    b = img2 if same_size else np.ascontiguousarray(img2[:ch, :cw])
    canvas = np.zeros((height, width, 4), dtype=np.uint8) if draw else None
    part = None
    if canvas is not None:
        part = canvas if same_size else np.zeros((ch, cw, 4), dtype=np.uint8)
    counts = match(a, b, part, options)
    extra = width * height - cw * ch
    if canvas is not None and not same_size:
        canvas[:, :] = (*options.diff_color, 255)
        canvas[:ch, :cw] = part
    return DiffResult(
        width=width, height=height, changed_pixels=counts.changed + extra,
        antialiased_pixels=counts.antialiased, compared=(cw, ch),
        sizes=((w1, h1), (w2, h2)), options=options, image=canvas,
    )
