"""``wait_for_stable`` (on by default): a chart is captured at its final state, a still page pays
nothing, and a page that never stops answers within the budget with ``X-Stable: false``."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from tests.support.checks import decode

#: A bar chart's one bar grows from 0 to 250 px over 1 s, eased (ease-out quartic), drawn in
#: requestAnimationFrame, as chart libraries draw their entrance; then the page stops drawing.
CHART = """<!doctype html><body style="margin:0;background:#fff">
<canvas id="c" width="400" height="300"></canvas><script>
const ctx = document.getElementById('c').getContext('2d');
const start = performance.now();
function draw(now) {
  const t = Math.min(1, (now - start) / 1000);
  const h = 250 * (1 - Math.pow(1 - t, 4));
  ctx.clearRect(0, 0, 400, 300);
  ctx.fillStyle = '#3366cc';
  ctx.fillRect(150, 280 - h, 100, h);
  if (t < 1) requestAnimationFrame(draw);
}
requestAnimationFrame(draw);
</script></body>"""

#: Draws a new colour every frame, for ever.
FOREVER = """<!doctype html><body style="margin:0"><script>
let n = 0;
function draw() { document.body.style.background = `hsl(${n++ % 360}, 80%, 50%)`;
                  requestAnimationFrame(draw); }
requestAnimationFrame(draw);
</script></body>"""

#: An endless spinner far below the viewport: it moves, but not where the shot looks.
OFFSCREEN_SPINNER = """<!doctype html><style>@keyframes spin{to{transform:rotate(360deg)}}
#s{margin-top:3000px;width:50px;height:50px;background:#f00;animation:spin 1s linear infinite}
</style><body style="margin:0;background:#fff"><p>still</p><div id="s"></div></body>"""


async def shot(client: Any, html: str, **params: Any) -> tuple[Any, np.ndarray]:
    response = await client.post("/screenshot", json={"html": html, "width": 400,
                                                      "height": 300, "cache": False, **params})
    assert response.status_code == 200, response.text
    if params.get("response_type") == "json":
        return response, np.zeros(0)
    return response, np.asarray(decode(response.content).convert("RGB"))


async def test_a_chart_is_captured_at_its_final_state(client):
    response, default = await shot(client, CHART)
    assert response.headers["x-stable"] == "true"
    _, later = await shot(client, CHART, delay=3000, wait_for_stable=False)
    assert np.array_equal(default, later), int((default != later).any(axis=2).sum())


async def test_without_the_wait_the_chart_is_caught_mid_entrance(client):
    response, early = await shot(client, CHART, wait_for_stable=False)
    assert "x-stable" not in response.headers
    _, later = await shot(client, CHART, delay=3000, wait_for_stable=False)
    assert not np.array_equal(early, later)  # the test above can fail


async def test_a_page_that_never_stops_answers_within_the_budget_unstable(client):
    started = time.monotonic()
    response, _ = await shot(client, FOREVER, response_type="json")
    elapsed = time.monotonic() - started
    assert response.headers["x-stable"] == "false"
    assert response.json()["stable"] is False
    assert 2.0 <= elapsed < 6.0, elapsed  # the 2 s budget, then the shot


async def test_a_still_page_and_an_offscreen_spinner_are_stable_at_once(client):
    for html in ("<p>still</p>", OFFSCREEN_SPINNER):
        started = time.monotonic()
        response, _ = await shot(client, html, response_type="json")
        assert response.json()["stable"] is True, html
        assert time.monotonic() - started < 1.5


async def test_a_cached_capture_keeps_its_stability_and_the_wait_is_measured(client):
    params = {"html": "<p>cached stable</p>", "width": 400, "height": 300}
    first = await client.post("/screenshot", json=params)
    again = await client.post("/screenshot", json=params)
    assert again.headers["x-cache"] == "HIT" and again.headers["x-stable"] == "true"
    assert first.headers["x-stable"] == "true"
    metrics = (await client.get("/metrics")).text
    assert 'screenshotd_stable_wait_seconds_count{stable="true"}' in metrics


async def test_a_budget_of_zero_turns_the_wait_off_for_every_capture():
    from tests.support.servers import make_settings, run_server

    async with run_server(make_settings(stable_budget_ms=0)) as running:
        response = await running.client.post("/screenshot", json={
            "html": CHART, "width": 400, "height": 300, "response_type": "json"})
        assert response.status_code == 200, response.text
        assert "x-stable" not in response.headers and "stable" not in response.json()


#: A still box beside a square that changes colour every frame, for ever.
STILL_BESIDE_MOVING = """<!doctype html><body style="margin:0;background:#fff">
<div id="still" style="position:absolute;left:20px;top:20px;width:120px;height:80px;
background:#2a9d8f"></div><div id="moving" style="position:absolute;left:220px;top:20px;
width:120px;height:80px"></div><script>
let n = 0;
function draw() { document.getElementById('moving').style.background = `hsl(${n++ % 360}, 80%,
50%)`; requestAnimationFrame(draw); }
requestAnimationFrame(draw);
</script></body>"""


@pytest.mark.parametrize(("params", "stable"), [
    ({"selector": "#still"}, True),
    ({"clip_x": 0, "clip_y": 0, "clip_width": 180, "clip_height": 120}, True),
    ({"selector": "#moving"}, False),
    ({}, False),  # the viewport holds both
])
async def test_an_element_or_clip_capture_compares_that_part_alone(client, params, stable):
    response, _ = await shot(client, STILL_BESIDE_MOVING, response_type="json", **params)
    assert response.json()["stable"] is stable, params


async def test_a_frame_loop_that_draws_nothing_is_found_stable_by_its_pixels(client):
    """Asking for frames without end is only a hint: after half the budget, pixels decide."""
    idle = ("<!doctype html><p>still</p><script>(function loop() { "
            "requestAnimationFrame(loop); })();</script>")
    started = time.monotonic()
    response, _ = await shot(client, idle, response_type="json")
    assert response.json()["stable"] is True
    assert time.monotonic() - started < 2.5
