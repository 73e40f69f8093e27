"""The pages the tests render: small HTML pages written here, the shared corpus, colours,
and PNGs made by hand."""

from __future__ import annotations

import os
import struct
import subprocess
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout


def _find_corpus() -> Path:
    """The shared corpus: ``SCREENSHOTD_CORPUS``, else ``../shared`` beside this checkout, else
    beside the checkout this one was cloned from (a CI clone in a temporary directory)."""
    if os.environ.get("SCREENSHOTD_CORPUS"):
        return Path(os.environ["SCREENSHOTD_CORPUS"])
    tail = Path("shared", "corpus", "readability")
    candidates = [ROOT.parent / tail]
    try:
        origin = subprocess.run(["git", "-C", str(ROOT), "config", "--get", "remote.origin.url"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        origin = ""
    if origin and "://" not in origin and not origin.startswith("git@"):
        candidates.append(Path(origin).resolve().parent / tail)  # a clone of a local checkout
    return next((c for c in candidates if c.is_dir()), candidates[0])


CORPUS = _find_corpus()


#: pixelmatch's own test images and expected counts (shared/fixtures/pixelmatch).
PIXELMATCH_FIXTURES = CORPUS.parents[1] / "fixtures" / "pixelmatch"


#: A font file the test site serves as a web font (``/font``): Liberation Mono, which
#: ``scripts/install-system-deps.sh`` installs with Chromium, so a page can also name it locally.
FONT = Path("/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf")
FONT_FAMILY = "Liberation Mono"

RED = (255, 0, 0)


GREEN = (0, 255, 0)


BLUE = (0, 0, 255)


WHITE = (255, 255, 255)


BLACK = (0, 0, 0)


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A tiny solid PNG, written by hand so the test site needs nothing but the stdlib."""
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def page(body: str, head: str = "") -> str:
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        "<style>html,body{margin:0;padding:0;background:#fff}body{min-height:100vh}</style>"
        f"{head}</head><body>{body}</body></html>"
    )


#: A red 200x100 box at the top left of a white page.
BOX = '<div id="box" style="width:200px;height:100px;background:rgb(255,0,0)"></div>'


def condition_page(js_condition: str, delay_ms: int = 0) -> str:
    script = (
        f"const paint = () => {{ document.body.style.background = ({js_condition}) "
        "? 'rgb(0,255,0)' : 'rgb(255,0,0)'; document.body.dataset.done = '1'; };"
    )
    script += f"setTimeout(paint, {delay_ms});" if delay_ms else "paint();"
    return page(f"<script>{script}</script>")


#: Deterministic noise in a square canvas, ``?px=`` on a side (default 174): a viewport PNG of
#: about 100 KB, for the cache benchmarks.
NOISE = page(
    '<canvas id="c"></canvas><script>'
    "const px = +(new URLSearchParams(location.search).get('px') || 174);"
    "const el = document.getElementById('c'); el.width = el.height = px;"
    "const c = el.getContext('2d'); const img = c.createImageData(px, px); let x = 12345;"
    "for (let i = 0; i < img.data.length; i++) {"
    "  x = (x * 1103515245 + 12345) % 2147483648;"
    "  img.data[i] = (i % 4 === 3) ? 255 : (x >> 16) & 255; }"
    "c.putImageData(img, 0, 0);</script>"
)


#: Two pages for the diff: the same red box, and the second adds a 50x50 blue box at (400, 300).
DIFF_BEFORE = page('<div style="position:absolute;left:0;top:0;width:200px;height:100px;'
                   'background:rgb(255,0,0)"></div>')


DIFF_AFTER = DIFF_BEFORE.replace(
    "</body>", '<div style="position:absolute;left:400px;top:300px;width:50px;height:50px;'
    'background:rgb(0,0,255)"></div></body>')


PAGES: dict[str, str] = {
    "diff-before": DIFF_BEFORE,
    "diff-after": DIFF_AFTER,
    "noise-box": NOISE,
    "basic": page(BOX + "<p>hello</p>"),
    "tall-lazy": page(
        '<div style="height:2600px;background:rgb(255,0,0)"></div>'
        '<img id="lazy" loading="lazy" src="/img.png?w=400&h=300&c=00ff00&delay=300" '
        'width="400" height="300" style="display:block">'
        '<div style="height:100px"></div>'
    ),
    "very-tall": page('<div style="height:17000px;background:linear-gradient(red,blue)"></div>'),
    "split": page('<div style="height:1000px;background:rgb(255,0,0)"></div>'
                  '<div style="height:1000px;background:rgb(0,255,0)"></div>'),
    "late-element": page(
        "<script>setTimeout(() => { const d = document.createElement('div'); d.id = 'late';"
        "d.style.cssText = 'width:300px;height:200px;background:rgb(0,0,255)';"
        "document.body.appendChild(d); }, 700);</script>"
    ),
    "click": page(
        '<button id="go" style="width:200px;height:100px" '
        "onclick=\"document.body.style.background='rgb(0,0,255)'\">go</button>"
    ),
    "delayed-paint": condition_page("true", delay_ms=1500),
    "networkidle0": page(
        "<script>window.addEventListener('load', () => fetch('/slow?ms=1000')"
        ".then(r => r.text()).then(() => { document.body.style.background = 'rgb(0,255,0)'; }));"
        "</script>"
    ),
    # One request that never ends, then three at once after load: networkidle2 waits for the
    # three (more than two open) and then tolerates the one.
    "networkidle2": page(
        "<script>fetch('/hang').catch(() => {});"
        "window.addEventListener('load', () => Promise.all([1, 2, 3].map(i => "
        "fetch('/slow?ms=1000&i=' + i).then(r => r.text()))).then(() => "
        "{ document.body.style.background = 'rgb(0,255,0)'; }));</script>"
    ),
    # Random-looking pixels (a fixed seed), so that jpeg quality shows in the file size.
    "noise": page(
        "<canvas id=c width=1280 height=800></canvas><script>"
        "const c = document.getElementById('c').getContext('2d'); let s = 42;"
        "const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;"
        "for (let y = 0; y < 800; y += 4) for (let x = 0; x < 1280; x += 4) {"
        "c.fillStyle = `rgb(${rnd()*255|0},${rnd()*255|0},${rnd()*255|0})`;"
        "c.fillRect(x, y, 4, 4); }</script>"
    ),
    "geo": page(
        "<script>navigator.geolocation.getCurrentPosition("
        "p => { document.body.style.background = Math.abs(p.coords.latitude - 48.8584) < 0.001 "
        "? 'rgb(0,255,0)' : 'rgb(255,0,0)'; },"
        "() => { document.body.style.background = 'rgb(0,0,255)'; });</script>"
    ),
    "user-agent": condition_page("navigator.userAgent === 'screenshotd-test/1.0'"),
    "stealth": condition_page(
        "navigator.webdriver === false && !navigator.userAgent.includes('Headless')"
        " && navigator.plugins.length > 0 && navigator.languages.length > 0"
    ),
    "timezone": condition_page(
        "Intl.DateTimeFormat().resolvedOptions().timeZone === 'Asia/Tokyo'"
    ),
    "locale": condition_page("navigator.language === 'de-DE'"),
    "touch": condition_page("navigator.maxTouchPoints > 0 && matchMedia('(pointer: coarse)').matches"),
    "dark": page(BOX, "<style>@media (prefers-color-scheme: dark){html,body{background:#000}}</style>"),
    "motion": page("", "<style>body{background:rgb(255,0,0)}"
                   "@media (prefers-reduced-motion: reduce){body{background:rgb(0,255,0)}}</style>"),
    "print": page("", "<style>body{background:rgb(255,0,0)}"
                  "@media print{body{background:rgb(0,0,255)}}</style>"),
    "transparent": page(BOX, "<style>html,body{background:transparent !important}</style>"),
    # ChartBeat's and Google Optimize's anti-flicker snippets, whose scripts never arrive.
    "anti-flicker": page(
        BOX,
        '<style id="chartbeat-flicker-control-style">body{visibility:hidden !important}</style>'
        "<style>.async-hide{opacity:0 !important}</style>"
        "<script>document.documentElement.className += ' async-hide';</script>",
    ),
    "csp": page(BOX, "<meta http-equiv=Content-Security-Policy "
                "content=\"default-src 'none'; script-src 'none'; style-src 'unsafe-inline'\">"),
}
