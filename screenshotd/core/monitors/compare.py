"""A monitor's comparison: the one pixelmatch, and the connected areas that changed.

:func:`compare` decodes two captures, diffs them with :func:`screenshotd.imaging.pixelmatch.compare`
(pixelmatch's colour threshold, anti-aliasing left out), and finds the changed pixels' connected
regions with ``scipy.ndimage.label``: each region is one box (``x``, ``y``, ``width``,
``height``), so that two changes far apart are two boxes, not one around everything. Pixels a
few apart are one region (``REGION_GAP``): a changed word is one box, not one a letter. CPU
work: run it in a thread.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from screenshotd.imaging.pixelmatch import compare as pixel_compare
from screenshotd.params.diff import DiffOptions

#: Changed pixels closer than this (px) belong to one region.
REGION_GAP = 8
#: The most regions listed; the rest are merged into the last one's neighbours' count.
MAX_REGIONS = 50
#: The colour changed pixels are drawn in: no faded (grey) pixel of the diff has it.
_CHANGED = (255, 0, 0)


@dataclass
class Comparison:
    changed_pixels: int
    total_pixels: int
    regions: list[dict[str, int]] = field(default_factory=list)
    #: The diff image, PNG.
    diff_png: bytes = b""

    @property
    def fraction(self) -> float:
        return self.changed_pixels / self.total_pixels if self.total_pixels else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"changed_pixels": self.changed_pixels,
                "changed_fraction": round(self.fraction, 6), "regions": self.regions}


def decode(data: bytes) -> NDArray[np.uint8]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGBA"), dtype=np.uint8)


def compare(before: bytes, after: bytes, pixel_threshold: float, *,
            min_fraction: float = 0.0) -> Comparison:
    """``before`` against ``after`` (encoded images of any sizes). The regions and the diff
    image are made only for a change over ``min_fraction`` of the pixels."""
    a, b = decode(before), decode(after)
    options = DiffOptions(threshold=pixel_threshold, diff_color=_CHANGED)
    result = pixel_compare(a, b, options, draw=True)
    assert result.image is not None
    comparison = Comparison(result.changed_pixels, result.total_pixels)
    if comparison.changed_pixels and comparison.fraction > min_fraction:
        comparison.regions = regions(np.all(result.image[:, :, :3] == _CHANGED, axis=2))
        comparison.diff_png = encode(result.image)
    return comparison


def size(data: bytes) -> tuple[int, int]:
    """An encoded image's width and height, from its header."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.size


def regions(changed: NDArray[np.bool_]) -> list[dict[str, int]]:
    """Boxes around the connected areas of ``changed``, largest first."""
    if not changed.any():
        return []
    from scipy import ndimage

    near = ndimage.binary_dilation(changed, iterations=REGION_GAP // 2)
    labels, count = ndimage.label(near)
    boxes = []
    for index, found in enumerate(ndimage.find_objects(labels), start=1):
        if found is None:
            continue
        rows, cols = found
        inside = changed[rows, cols] & (labels[rows, cols] == index)
        if not inside.any():
            continue
        ys, xs = np.nonzero(inside)
        top, left = rows.start + int(ys.min()), cols.start + int(xs.min())
        boxes.append({"x": left, "y": top, "width": int(xs.max() - xs.min()) + 1,
                      "height": int(ys.max() - ys.min()) + 1,
                      "pixels": int(np.count_nonzero(inside))})
    boxes.sort(key=lambda box: -box["pixels"])
    return boxes[:MAX_REGIONS]


def encode(image: NDArray[np.uint8]) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(image, "RGBA").save(out, format="PNG", compress_level=1)
    return out.getvalue()
