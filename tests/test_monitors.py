"""Monitors' pure parts: the connected regions of a change, the cadence, reading a request."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from screenshotd import errors
from screenshotd.core.monitors import compare
from screenshotd.core.monitors.model import read_request
from screenshotd.core.monitors.service import following


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), "RGB").save(out, format="PNG")
    return out.getvalue()


def canvas() -> np.ndarray:
    return np.full((300, 400, 3), 255, dtype=np.uint8)


def test_two_changes_far_apart_are_two_boxes_and_nothing_else():
    before, after = canvas(), canvas()
    after[10:30, 20:70] = (255, 0, 0)      # 50x20 at (20, 10)
    after[200:260, 300:310] = (0, 0, 255)  # 10x60 at (300, 200)
    found = compare.compare(png(before), png(after), 0.1)
    boxes = [{k: v for k, v in box.items() if k != "pixels"} for box in found.regions]
    assert boxes == [{"x": 20, "y": 10, "width": 50, "height": 20},
                     {"x": 300, "y": 200, "width": 10, "height": 60}]
    assert found.changed_pixels == 50 * 20 + 10 * 60
    assert found.fraction == pytest.approx(1600 / (400 * 300))
    assert found.diff_png.startswith(b"\x89PNG")


def test_pixels_a_few_apart_are_one_region_and_the_same_image_none():
    before, after = canvas(), canvas()
    after[50:52, 50:52] = 0
    after[50:52, 55:57] = 0  # 3 px apart: one word, one box
    found = compare.compare(png(before), png(after), 0.1)
    assert [(b["x"], b["y"], b["width"], b["height"]) for b in found.regions] == [(50, 50, 7, 2)]
    same = compare.compare(png(before), png(before), 0.1)
    assert same.changed_pixels == 0 and same.regions == [] and same.fraction == 0
    assert same.diff_png == b""  # nothing drawn for no change
    small = compare.compare(png(before), png(after), 0.1, min_fraction=0.5)
    assert small.changed_pixels == 8 and small.regions == [] and small.diff_png == b""


def test_the_cadence_keeps_its_times_and_skips_what_it_missed():
    assert following(100.0, 60, 120.0) == 160.0
    assert following(100.0, 60, 170.0) == 220.0  # 160 was missed: the next after now
    assert following(100.0, 60, 400.0) == 460.0


def parse(body: dict, **kw):
    return read_request(body, min_every=60, check_capture=lambda params: None, **kw)


@pytest.mark.parametrize(("body", "field"), [
    ({}, "url"),
    ({"url": "https://a.example", "every": 59}, "every"),
    ({"url": "https://a.example", "every": True}, "every"),
    ({"url": "https://a.example", "format": "pdf"}, "format"),
    ({"url": "https://a.example", "cache_ttl": 60}, "cache_ttl"),
    ({"url": "https://a.example", "ignore": ["a[b"]}, "ignore"),
    ({"url": "https://a.example", "ignore": ["ok"] * 51}, "ignore"),
    ({"url": "https://a.example", "confirm": "yes"}, "confirm"),
    ({"url": "https://a.example", "down_after": 0}, "down_after"),
    ({"url": "https://a.example", "webhook_url": "mailto:x"}, "webhook_url"),
])
def test_a_bad_monitor_names_its_field(body: dict, field: str):
    with pytest.raises(errors.ValidationError) as caught:
        parse(body)
    assert caught.value.field == field


def test_own_fields_and_capture_are_apart():
    own, capture = parse({"url": "https://a.example", "every": 120, "ignore": ".a, .b",
                          "width": 640, "full_page": True})
    assert own == {"url": "https://a.example", "every": 120, "ignore": [".a", ".b"]}
    assert capture == {"width": 640, "full_page": True}
