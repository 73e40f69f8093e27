"""screenshotd.imaging.pixelmatch against pixelmatch 7.1.0: its own test cases, and the reference's answers
for generated pairs (tests/fixtures/pixelmatch_reference, written by
scripts/pixelmatch-reference/generate.py), down to the bytes of the diff image."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from screenshotd.imaging import pixelmatch as diff
from screenshotd.imaging.pixelmatch import compare, faded, pixelmatch
from screenshotd.params.diff import DiffOptions
from tests.support.pages import PIXELMATCH_FIXTURES

REFERENCE = Path(__file__).parent / "fixtures" / "pixelmatch_reference"
#: pixelmatch's option names (and our own), as this module spells them.
NAMES = {"includeAA": "include_aa", "aaColor": "aa_color", "diffColor": "diff_color",
         "diffColorAlt": "diff_color_alt", "diffMask": "diff_mask",
         **{name: name for name in DiffOptions.model_fields}}


def load(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.array(image.convert("RGBA"))


def options_from(js: dict[str, Any]) -> DiffOptions:
    return DiffOptions(**{NAMES[k]: tuple(v) if isinstance(v, list) else v
                          for k, v in js.items()})


def reference_cases(name: str) -> list[dict[str, Any]]:
    return json.loads((REFERENCE / name).read_text())["cases"]  # type: ignore[no-any-return]


def case_id(case: dict[str, Any]) -> str:
    return f"{case['a']}-{case['b']}-{json.dumps(case['options'], separators=(',', ':'))}"


SHARED_CASES = json.loads((PIXELMATCH_FIXTURES / "cases.json").read_text())


@pytest.mark.parametrize("case", SHARED_CASES, ids=case_id)
def test_pixelmatch_suite_counts(case: dict[str, Any]) -> None:
    """Every case of shared/fixtures/pixelmatch/cases.json, exactly."""
    img1 = load(PIXELMATCH_FIXTURES / case["a"])
    img2 = load(PIXELMATCH_FIXTURES / case["b"])
    assert pixelmatch(img1, img2, None, options_from(case["options"])) == case["expected"]


@pytest.mark.parametrize("case", reference_cases("shared_cases.json"), ids=case_id)
def test_pixelmatch_suite_images_match_the_reference(case: dict[str, Any]) -> None:
    """The shared pairs under more option sets: the count and every byte of the diff image
    are what pixelmatch 7.1.0 itself gave."""
    img1 = load(PIXELMATCH_FIXTURES / case["a"])
    img2 = load(PIXELMATCH_FIXTURES / case["b"])
    output = np.zeros_like(img1)
    assert pixelmatch(img1, img2, output, options_from(case["options"])) == case["count"]
    assert hashlib.sha256(output.tobytes()).hexdigest() == case["diff_sha256"]


@pytest.mark.parametrize("case", reference_cases("cases.json"), ids=case_id)
def test_generated_pairs_match_the_reference(case: dict[str, Any]) -> None:
    """Anti-aliased shapes, semi-transparent and fully transparent pixels, noise, flat blocks,
    gradients, and 1-pixel-wide images, under twelve option sets."""
    img1 = load(REFERENCE / case["a"])
    img2 = load(REFERENCE / case["b"])
    output = np.zeros_like(img1)
    assert pixelmatch(img1, img2, output, options_from(case["options"])) == case["count"]
    assert hashlib.sha256(output.tobytes()).hexdigest() == case["diff_sha256"]


def test_reference_fixtures_cover_what_matters() -> None:
    """The generated cases exercise what a plain opaque pair would not."""
    cases = reference_cases("cases.json")
    alpha = load(REFERENCE / "alpha-a.png")
    assert ((alpha[..., 3] > 0) & (alpha[..., 3] < 255)).any()
    assert any(c["options"].get("diffMask") for c in cases)
    assert any(c["options"].get("diffColorAlt") for c in cases)
    assert {load(REFERENCE / f"{n}-a.png").shape[:2] for n in ("column", "row", "dot")} == {
        (37, 1), (1, 41), (1, 1)}
    with_aa = [c for c in cases if c["a"] == "aa-a.png" and not c["options"]]
    counted = pixelmatch(load(REFERENCE / "aa-a.png"), load(REFERENCE / "aa-b.png"), None,
                         DiffOptions(include_aa=True))
    assert counted > with_aa[0]["count"]  # anti-aliasing was detected and left out


def test_band_size_does_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bands of a few rows give the same count and image as one band."""
    img1 = load(PIXELMATCH_FIXTURES / "4a.png")
    img2 = load(PIXELMATCH_FIXTURES / "4b.png")
    whole = np.zeros_like(img1)
    count = pixelmatch(img1, img2, whole, DiffOptions(threshold=0.05))
    monkeypatch.setattr(diff, "BAND_PIXELS", img1.shape[1] * 3 + 7)
    banded = np.zeros_like(img1)
    assert pixelmatch(img1, img2, banded, DiffOptions(threshold=0.05)) == count == 36049
    assert np.array_equal(whole, banded)


def blank(width: int, height: int, rgba: tuple[int, int, int, int] = (255, 255, 255, 255)
          ) -> np.ndarray:
    image = np.empty((height, width, 4), dtype=np.uint8)
    image[:, :] = rgba
    return image


def test_identical_images_give_zero_and_a_faded_copy() -> None:
    img = load(PIXELMATCH_FIXTURES / "6a.png")
    output = np.zeros_like(img)
    assert pixelmatch(img, img.copy(), output) == 0
    assert (output[..., 3] == 255).all()
    assert (output[..., 0] == output[..., 1]).all() and (output[..., 1] == output[..., 2]).all()
    # A black pixel at alpha 0.1 fades to 255 - 0.1 * 255 = 229.5, stored truncated as 229.
    black = blank(1, 1, (0, 0, 0, 255))
    grey = faded(black.reshape(-1).view(np.uint32), 0.1).view(np.uint8)
    assert tuple(grey) == (229, 229, 229, 255)
    mask = np.zeros_like(img)
    assert pixelmatch(img, img.copy(), mask, DiffOptions(diff_mask=True)) == 0
    assert not mask.any()


def test_diff_image_colours_at_known_pixels() -> None:
    """A white 40x30 image; the second has a black 10x10 box (darker) and a light-grey one
    turned white (lighter). Changed pixels are drawn in diff_color, or in diff_color_alt where
    the second image is darker; unchanged ones as faded grey."""
    img1 = blank(40, 30)
    img1[5:15, 25:35] = (200, 200, 200, 255)
    img2 = blank(40, 30)
    img2[5:15, 5:15] = (0, 0, 0, 255)
    output = np.zeros_like(img1)
    opts = DiffOptions(diff_color=(255, 0, 0), diff_color_alt=(0, 0, 255))
    assert pixelmatch(img1, img2, output, opts) == 200
    assert tuple(output[10, 10]) == (0, 0, 255, 255)  # got darker: the alternative colour
    assert tuple(output[10, 30]) == (255, 0, 0, 255)  # got lighter
    assert tuple(output[25, 20]) == (255, 255, 255, 255)  # white stays white
    assert int((output[..., :3] == (255, 0, 0)).all(-1).sum()) == 100
    mask = np.zeros_like(img1)
    assert pixelmatch(img1, img2, mask, DiffOptions(diff_mask=True)) == 200
    assert tuple(mask[10, 10]) == (255, 0, 0, 255)
    assert tuple(mask[25, 20]) == (0, 0, 0, 0)  # the mask has no background


def test_antialiased_pixels_are_drawn_in_aa_color() -> None:
    img1 = load(PIXELMATCH_FIXTURES / "1a.png")
    img2 = load(PIXELMATCH_FIXTURES / "1b.png")
    output = np.zeros_like(img1)
    counts = diff.match(img1, img2, output, DiffOptions(threshold=0.05, aa_color=(0, 192, 0)))
    assert counts.changed == 143 and counts.antialiased > 0
    green = (output[..., :3] == (0, 192, 0)).all(-1)
    red = (output[..., :3] == (255, 0, 0)).all(-1)
    assert int(green.sum()) == counts.antialiased
    assert int(red.sum()) == 143
    everything = diff.match(img1, img2, None, DiffOptions(threshold=0.05, include_aa=True))
    assert everything.changed == counts.changed + counts.antialiased


def test_size_mismatch_compares_on_the_union_canvas() -> None:
    """40x30 against 50x20: the 40x20 overlap is compared; the rest of the 50x30 canvas is
    outside one image or the other and counts as changed."""
    img1 = blank(40, 30)
    img2 = blank(50, 20)
    img2[2:4, 2:4] = (0, 0, 0, 255)
    result = compare(img1, img2)
    assert (result.width, result.height) == (50, 30)
    assert result.compared == (40, 20)
    assert result.changed_pixels == 4 + (50 * 30 - 40 * 20)
    stats = result.to_json()
    assert stats["total_pixels"] == 1500 and stats["has_changes"]
    assert stats["diff_percent"] == round(100 * result.changed_pixels / 1500, 4)
    assert stats["before_size"] == {"width": 40, "height": 30}
    assert stats["after_size"] == {"width": 50, "height": 20}
    assert result.image is not None
    assert tuple(result.image[25, 45]) == (255, 0, 0, 255)  # outside both
    assert tuple(result.image[25, 10]) == (255, 0, 0, 255)  # only in the first
    assert tuple(result.image[10, 45]) == (255, 0, 0, 255)  # only in the second
    assert tuple(result.image[3, 3]) == (255, 0, 0, 255)  # changed in the overlap
    assert tuple(result.image[10, 10]) == (255, 255, 255, 255)  # the same in both


def test_same_size_compare_is_pixelmatch() -> None:
    img1 = load(PIXELMATCH_FIXTURES / "3a.png")
    img2 = load(PIXELMATCH_FIXTURES / "3b.png")
    result = compare(img1, img2, DiffOptions(threshold=0.05), draw=False)
    assert result.changed_pixels == 212 and result.image is None
    assert result.compared == (512, 256)
    assert compare(img1, img1).to_json()["has_changes"] is False


def test_bad_input_is_refused() -> None:
    img = blank(4, 4)
    with pytest.raises(ValueError, match="sizes do not match"):
        pixelmatch(img, blank(4, 5))
    with pytest.raises(ValueError, match="uint8"):
        pixelmatch(img.astype(np.int32), img)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threshold"):
        DiffOptions(threshold=1.5)
    with pytest.raises(ValueError, match="alpha"):
        DiffOptions(alpha=-0.1)
    with pytest.raises(ValueError, match="diff_color"):
        DiffOptions(diff_color=(256, 0, 0))
    with pytest.raises(ValueError, match="non-empty"):
        compare(np.zeros((0, 4, 4), dtype=np.uint8), img)


def test_an_empty_image_has_nothing_to_count() -> None:
    empty = np.zeros((0, 5, 4), dtype=np.uint8)
    assert pixelmatch(empty, empty.copy(), np.zeros_like(empty)) == 0


def test_options_may_be_given_by_name() -> None:
    img1 = load(PIXELMATCH_FIXTURES / "1a.png")
    img2 = load(PIXELMATCH_FIXTURES / "1b.png")
    assert pixelmatch(img1, img2, threshold=0.05) == 143
    assert pixelmatch(img1, img2, None, DiffOptions(threshold=0.05)) == 143
    assert compare(img1, img2, threshold=0.05, draw=False).changed_pixels == 143
    with pytest.raises(TypeError):
        pixelmatch(img1, img2, None, DiffOptions(), threshold=0.05)
