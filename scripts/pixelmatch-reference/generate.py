"""Write the pixelmatch reference fixtures that tests/test_diff.py checks screenshotd.imaging.pixelmatch against.

    python scripts/pixelmatch-reference/generate.py

Needs Node.js and npm (the npm registry). It installs the reference pixelmatch 7.1.0 (and pngjs
to read PNGs) into a temporary directory, then:

1. draws deterministic image pairs into ``tests/fixtures/pixelmatch_reference/`` (anti-aliased
   shapes, semi-transparent layers, noise, flat blocks, gradients, and 1-pixel-wide and tiny
   images), and lists cases over them with many option sets in ``cases.json``;
2. lists option variants over the shared fixtures (``../shared/fixtures/pixelmatch``) in
   ``shared_cases.json``;
3. runs the reference on both lists and writes what it returned, the count and the SHA-256 of
   its diff image, beside each case.

The committed output is what the tests read; this script only needs running again to add cases.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = ROOT / "tests" / "fixtures" / "pixelmatch_reference"
SHARED = ROOT.parent / "shared" / "fixtures" / "pixelmatch"

#: Option sets, in pixelmatch's spelling, tried on every generated pair.
OPTION_SETS: list[dict[str, object]] = [
    {},
    {"threshold": 0},
    {"threshold": 0.05},
    {"threshold": 0.3},
    {"threshold": 1},
    {"includeAA": True},
    {"threshold": 0.05, "alpha": 0.5, "aaColor": [0, 192, 0], "diffColor": [255, 0, 255]},
    {"alpha": 0},
    {"alpha": 1},
    {"diffMask": True},
    {"diffColorAlt": [0, 255, 0]},
    {"threshold": 0.05, "diffMask": True, "includeAA": True, "diffColorAlt": [0, 0, 255]},
]

#: Option sets tried on the shared fixtures: pixelmatch's own tests' options, and more.
SHARED_OPTION_SETS: list[dict[str, object]] = [
    {"threshold": 0.05},
    {},
    {"threshold": 0.05, "includeAA": False, "diffMask": True},
    {"threshold": 0, "diffMask": True},
    {"threshold": 0.05, "alpha": 0.5, "aaColor": [0, 192, 0], "diffColor": [255, 0, 255]},
    {"diffColorAlt": [0, 255, 0]},
    {"includeAA": True},
    {"threshold": 0},
]
SHARED_PAIRS = [("1a", "1b"), ("1a", "1a"), ("3a", "3b"), ("4a", "4b"), ("6a", "6b"), ("6a", "6a")]


def supersampled(size: tuple[int, int], draw, scale: int = 4, mode: str = "RGBA") -> Image.Image:
    """Draw at ``scale`` times the size and shrink, so edges come out anti-aliased."""
    big = Image.new(mode, (size[0] * scale, size[1] * scale), (255, 255, 255, 255))
    draw(ImageDraw.Draw(big), scale)
    return big.resize(size, Image.Resampling.LANCZOS)


def shapes(shift: int, colour: tuple[int, int, int, int]):
    def draw(d: ImageDraw.ImageDraw, s: int) -> None:
        d.ellipse([(8 + shift) * s, 8 * s, (40 + shift) * s, 40 * s], fill=(20, 40, 200, 255))
        d.line([0, 60 * s, 96 * s, 20 * s], fill=(0, 0, 0, 255), width=2 * s)
        d.rectangle([50 * s, 45 * s, 80 * s, 70 * s], fill=colour)
        d.polygon([(60 * s, 5 * s), (90 * s, 30 * s), (55 * s, 35 * s)], fill=(200, 30, 30, 255))
    return draw


def pairs(rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    a = supersampled((96, 72), shapes(0, (0, 160, 0, 255)))
    b = supersampled((96, 72), shapes(1, (0, 150, 10, 255)))
    out["aa"] = (np.asarray(a), np.asarray(b))

    base = np.asarray(supersampled((64, 48), shapes(0, (0, 160, 0, 255)))).copy()
    alpha1 = base.copy()
    alpha1[..., 3] = rng.integers(0, 256, size=base.shape[:2], dtype=np.uint8)
    alpha2 = alpha1.copy()
    alpha2[10:30, 10:40, 3] = rng.integers(0, 256, size=(20, 30), dtype=np.uint8)
    alpha2[30:40, :, :3] = 255 - alpha2[30:40, :, :3]
    out["alpha"] = (alpha1, alpha2)

    clear1 = rng.integers(0, 256, size=(32, 40, 4), dtype=np.uint8)
    clear1[..., 3] = rng.choice(np.array([0, 0, 1, 128, 254, 255], dtype=np.uint8), size=(32, 40))
    clear2 = clear1.copy()
    clear2[..., :3] = rng.integers(0, 256, size=(32, 40, 3), dtype=np.uint8)
    out["transparent"] = (clear1, clear2)

    noise1 = rng.integers(0, 256, size=(40, 50, 4), dtype=np.uint8)
    noise1[..., 3] = 255
    noise2 = noise1.copy()
    flip = rng.random(noise1.shape[:2]) < 0.3
    noise2[flip, :3] = rng.integers(0, 256, size=(int(flip.sum()), 3), dtype=np.uint8)
    out["noise"] = (noise1, noise2)

    palette = np.array([[255, 255, 255, 255], [0, 0, 0, 255], [128, 128, 128, 255],
                        [250, 250, 250, 255]], dtype=np.uint8)
    blocks1 = palette[rng.integers(0, 4, size=(45, 45))]
    blocks2 = blocks1.copy()
    pick = rng.random(blocks1.shape[:2]) < 0.2
    blocks2[pick] = palette[rng.integers(0, 4, size=int(pick.sum()))]
    out["blocks"] = (blocks1, blocks2)

    ramp = np.linspace(0, 255, 64)
    grad1 = np.zeros((40, 64, 4), dtype=np.uint8)
    grad1[..., 0] = ramp.astype(np.uint8)
    grad1[..., 1] = ramp[::-1].astype(np.uint8)
    grad1[..., 2] = 90
    grad1[..., 3] = 255
    grad2 = grad1.copy()
    grad2[:, 20:44, :3] = np.clip(grad2[:, 20:44, :3].astype(int) + rng.integers(-40, 41, size=(40, 24, 3)), 0, 255).astype(np.uint8)
    out["gradient"] = (grad1, grad2)

    for name, shape in (("column", (37, 1)), ("row", (1, 41)), ("dot", (1, 1)), ("two", (2, 2)),
                        ("three", (3, 3))):
        t1 = palette[rng.integers(0, 4, size=shape)]
        t2 = t1.copy()
        t2.reshape(-1, 4)[rng.random(t1.shape[0] * t1.shape[1]) < 0.5] = (10, 200, 30, 255)
        out[name] = (t1, t2)
    return out


def run_reference(cases_file: Path, image_dir: Path, work: Path) -> list[dict[str, object]]:
    result = subprocess.run(
        ["node", str(work / "reference.mjs"), str(cases_file), str(image_dir)],
        check=True, capture_output=True, text=True, cwd=work,
    )
    return json.loads(result.stdout)


def main() -> int:
    if shutil.which("node") is None or shutil.which("npm") is None:
        print("Node.js and npm are needed to run the reference pixelmatch", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261121)
    cases: list[dict[str, object]] = []
    for name, (a, b) in pairs(rng).items():
        Image.fromarray(np.ascontiguousarray(a), "RGBA").save(OUT / f"{name}-a.png")
        Image.fromarray(np.ascontiguousarray(b), "RGBA").save(OUT / f"{name}-b.png")
        for options in OPTION_SETS:
            cases.append({"a": f"{name}-a.png", "b": f"{name}-b.png", "options": options})
        cases.append({"a": f"{name}-b.png", "b": f"{name}-a.png", "options": {}})
    shared_cases = [{"a": f"{a}.png", "b": f"{b}.png", "options": options}
                    for a, b in SHARED_PAIRS for options in SHARED_OPTION_SETS]

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in ("package.json", "reference.mjs"):
            shutil.copy(HERE / name, work / name)
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund"],
                       check=True, cwd=work)
        (work / "cases.json").write_text(json.dumps(cases))
        (work / "shared.json").write_text(json.dumps(shared_cases))
        found = run_reference(work / "cases.json", OUT, work)
        shared_found = run_reference(work / "shared.json", SHARED, work)

    for case, result in zip(cases, found, strict=True):
        case.update(result)
    for case, result in zip(shared_cases, shared_found, strict=True):
        case.update(result)
    note = "Written by scripts/pixelmatch-reference/generate.py from pixelmatch 7.1.0."
    (OUT / "cases.json").write_text(
        json.dumps({"note": note, "cases": cases}, indent=1) + "\n")
    (OUT / "shared_cases.json").write_text(
        json.dumps({"note": note, "cases": shared_cases}, indent=1) + "\n")
    print(f"{len(cases)} generated cases and {len(shared_cases)} shared ones written to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
