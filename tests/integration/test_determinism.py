"""Deterministic captures: with ``animations=disabled`` and ``freeze_time`` a page that moves,
prints the time and waits for a slow web font is captured the same way twice, and the frozen
clock controls ``Date``, timers, animation frames and ``performance.now``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import numpy as np
import pytest

from screenshotd.imaging.pixelmatch import compare
from tests.support.checks import assert_error, decode
from tests.support.pages import FONT_FAMILY
from tests.support.site import Site

#: Everything that makes two shots of one page differ: an endless CSS animation, a transition
#: started on load, a focused input with its blinking caret, the time printed with its
#: milliseconds, and a web font the site serves 500 ms late. The same text is also set in the
#: same font installed locally, so the test can tell the web font arrived before the shot.
RESTLESS = f"""<!doctype html><style>
@font-face {{ font-family: Slow; src: url(/font?ms=500); }}
body {{ margin: 0; background: #fff; }}
@keyframes slide {{ from {{ transform: translateX(0); }} to {{ transform: translateX(300px); }} }}
#moving {{ width: 40px; height: 40px; background: #c00; animation: slide 3s linear infinite; }}
#grow {{ width: 10px; height: 40px; background: #06c; transition: width 4s linear; }}
input {{ font-size: 30px; caret-color: #f0f; }}
p {{ position: absolute; left: 0; font-size: 32px; margin: 0; height: 40px; }}
#web {{ top: 150px; font-family: Slow, serif; }}
#local {{ top: 200px; font-family: '{FONT_FAMILY}', serif; }}
#now {{ top: 250px; font-size: 16px; }}
</style>
<div id="moving"></div><div id="grow"></div>
<input id="field" value="typed">
<p id="web">Shot 0123 WMiq</p><p id="local">Shot 0123 WMiq</p>
<p id="now"></p>
<script>
document.getElementById('now').textContent =
  new Date().toISOString() + ' ' + performance.now().toFixed(3);
document.getElementById('field').focus();
addEventListener('load', () => {{
  const grow = document.getElementById('grow');
  getComputedStyle(grow).width;
  grow.style.width = '400px';
}});
</script>"""

FROZEN = {"animations": "disabled", "freeze_time": "2024-05-01T12:00:00Z"}


async def shoot(client: Any, site: Site, html: str, **params: Any) -> np.ndarray:
    response = await client.get("/screenshot", params={
        "url": site.url("/serve?html=" + quote(html)), "width": 500, "height": 300,
        "cache": "false", **params})
    assert response.status_code == 200, response.text
    return np.asarray(decode(response.content).convert("RGBA"))


def changed(a: np.ndarray, b: np.ndarray) -> int:
    return compare(a, b, draw=False, threshold=0).changed_pixels


async def test_a_restless_page_is_captured_the_same_twice_with_the_options(client, site):
    first = await shoot(client, site, RESTLESS, **FROZEN)
    second = await shoot(client, site, RESTLESS, **FROZEN)
    assert changed(first, second) == 0
    # The web font was waited for: its line is drawn as the local copy of the font draws it
    # (but for anti-aliasing: web fonts are hinted apart), not blank and not in the fallback.
    web, local = first[150:190], first[200:240]
    ink = int((web[..., :3] < 200).any(axis=2).sum())
    assert ink > 500, "the web font's line is blank"
    assert compare(web, local, draw=False).changed_pixels < ink // 20


async def test_without_the_options_the_two_captures_differ(client, site):
    first = await shoot(client, site, RESTLESS)
    second = await shoot(client, site, RESTLESS)
    assert changed(first, second) > 0


#: Prints the time at load, and again from a timer 50 ms later with performance.now.
DATED = """<!doctype html><body><script>
const first = new Date().toISOString();
const started = performance.now();
setTimeout(() => {
  document.title = first + ' ' + Date.now() + ' ' + (performance.now() - started);
}, 50);
</script></body>"""


@pytest.mark.parametrize(("given", "iso", "ms"), [
    ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.000Z", 1714564800000),
    ("1714564800000", "2024-05-01T12:00:00.000Z", 1714564800000),
    ("2024-05-01T14:00:00+02:00", "2024-05-01T12:00:00.000Z", 1714564800000),
])
async def test_freeze_time_prints_the_frozen_date(client, given, iso, ms):
    response = await client.post("/screenshot", json={
        "html": DATED, "freeze_time": given, "metadata": True, "response_type": "json",
        "cache": False})
    assert response.status_code == 200, response.text
    # The timer fired at exactly 50 ms of page time, and performance.now agrees.
    assert response.json()["metadata"]["title"] == f"{iso} {ms + 50} 50"


async def test_a_frozen_page_draws_its_timed_entrance_at_once(client):
    """A chart that grows in animation frames for 1 s is at its end in the frozen clock's run,
    without the stability wait's help: the page's time moved, not the wall clock's."""
    from tests.integration.test_stable import CHART
    frozen = await client.post("/screenshot", json={
        "html": CHART, "width": 400, "height": 300, "cache": False, "wait_for_stable": False,
        "freeze_time": "2024-05-01T12:00:00Z"})
    later = await client.post("/screenshot", json={
        "html": CHART, "width": 400, "height": 300, "cache": False, "delay": 3000,
        "wait_for_stable": False})
    a, b = (np.asarray(decode(r.content).convert("RGBA")) for r in (frozen, later))
    assert changed(a, b) == 0


@pytest.mark.parametrize("given", ["yesterday", "2024-13-01", "99999999999999999"])
async def test_a_bad_freeze_time_is_a_400(client, given):
    response = await client.post("/screenshot", json={"html": DATED, "freeze_time": given})
    assert_error(response, 400, "VALIDATION_ERROR", "freeze_time")
