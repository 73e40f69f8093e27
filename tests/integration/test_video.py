"""``/video``: recordings decoded with PyAV, frame by frame, and checked for what they show."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import av
import numpy as np
import pytest

from tests.support.checks import assert_error

#: A page that paints red, then green, then blue, one second each from its load.
COLOURS = """<!doctype html><style>html,body{margin:0;height:100%}</style><body>
<script>
const colours = ['#ff0000', '#00ff00', '#0000ff'];
const start = performance.now();
function paint(now) {
  const i = Math.min(2, Math.floor((now - start) / 1000));
  document.body.style.background = colours[i];
  if (i < 2) requestAnimationFrame(paint);
}
document.body.style.background = colours[0];
requestAnimationFrame(paint);
</script>"""

#: Ten stripes, each as tall as the viewport (240 px), in ten distinct greys.
STRIPES = ("<!doctype html><style>body{margin:0}div{height:240px}</style><body>"
           + "".join(f'<div style="background:rgb({g},{g},{g})"></div>'
                     for g in range(0, 250, 25)))

#: White until the button is clicked, then black.
CLICK = """<!doctype html><style>html,body{margin:0;height:100%;background:#fff}</style><body>
<button id="go" onclick="document.body.style.background='#000'">go</button>"""

SMALL = {"width": 320, "height": 240}


class Video:
    """A decoded video: its container, codec, size, rate, and frames with their times."""

    def __init__(self, data: bytes) -> None:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            self.container = container.format.name
            self.codec = stream.codec_context.name
            self.width, self.height = stream.codec_context.width, stream.codec_context.height
            self.fps = float(stream.average_rate or 0)
            self.frames = [(float(frame.time), frame.to_ndarray(format="rgb24"))
                           for frame in container.decode(stream)]
        last = self.frames[-1][0]
        self.duration = last + 1 / self.fps

    def at(self, seconds: float) -> np.ndarray:
        """The frame shown at ``seconds``."""
        shown = [pixels for time, pixels in self.frames if time <= seconds + 1e-6]
        return shown[-1]

    def colour_at(self, seconds: float) -> tuple[int, ...]:
        """The median colour of the frame shown at ``seconds`` (compression blurs edges)."""
        return tuple(int(c) for c in np.median(self.at(seconds).reshape(-1, 3), axis=0))


def close(actual: tuple[int, ...], expected: tuple[int, ...], within: int = 40) -> bool:
    return all(abs(a - b) <= within for a, b in zip(actual, expected, strict=True))


async def record(client: Any, **params: Any) -> Video:
    response = await client.post("/video", json={**SMALL, **params})
    assert response.status_code == 200, response.text
    return Video(response.content)


async def test_an_mp4_has_the_size_fps_and_duration_asked_and_shows_the_colours_in_time(client):
    response = await client.post("/video", json={"html": COLOURS, "duration": 3, "fps": 10,
                                                 **SMALL})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "video/mp4"
    video = Video(response.content)
    assert "mp4" in video.container
    assert video.codec == "h264"
    assert (video.width, video.height) == (320, 240)
    assert video.fps == 10
    assert len(video.frames) == 30
    assert video.duration == pytest.approx(3, abs=0.01)
    assert close(video.colour_at(0.5), (255, 0, 0)), video.colour_at(0.5)
    assert close(video.colour_at(1.5), (0, 255, 0)), video.colour_at(1.5)
    assert close(video.colour_at(2.7), (0, 0, 255)), video.colour_at(2.7)


async def test_a_webm_is_vp9_and_json_links_to_it(client):
    response = await client.get("/video", params={"html": COLOURS, "duration": 1, "fps": 5,
                                                  "format": "webm", "response_type": "json",
                                                  **SMALL})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["format"] == "webm"
    assert body["content_type"] == "video/webm"
    assert (body["width"], body["height"]) == (320, 240)
    assert body["image_url"].endswith(".webm")
    linked = await client.get(body["image_url"])
    assert linked.headers["content-type"] == "video/webm"
    video = Video(linked.content)
    assert "webm" in video.container or "matroska" in video.container
    assert video.codec == "vp9"
    assert len(video.frames) == 5


async def test_scroll_passes_every_stripe_in_order(client):
    video = await record(client, html=STRIPES, duration=3, fps=10, scroll=True)
    greys = [int(np.median(pixels[:, :, 0])) for _, pixels in video.frames]
    assert greys[0] < 15  # the top stripe first
    assert greys[-1] > 200  # the page's bottom at the end
    assert all(b >= a - 10 for a, b in zip(greys, greys[1:], strict=False)), greys
    assert len({round(g / 25) for g in greys}) >= 7, greys  # the stripes in between pass


async def test_a_click_action_changes_the_colour_from_its_delay_on(client):
    actions = [{"type": "click", "selector": "#go", "delay": 1500}]
    video = await record(client, html=CLICK, duration=3, fps=10, actions=actions)
    assert close(video.colour_at(1.0), (255, 255, 255)), video.colour_at(1.0)
    assert close(video.colour_at(2.5), (0, 0, 0)), video.colour_at(2.5)


async def test_an_identical_request_is_a_cache_hit(client, captures):
    params = {"html": CLICK + "<!-- cached -->", "duration": 1, "fps": 4, **SMALL}
    first = await client.get("/video", params=params)
    again = await client.get("/video", params=params)
    assert first.status_code == again.status_code == 200
    assert again.headers["x-cache"] == "HIT"
    assert again.content == first.content
    assert len(captures) == 1
    etag = await client.get("/video", params=params,
                            headers={"If-None-Match": first.headers["etag"]})
    assert etag.status_code == 304


async def test_an_async_video_is_a_job_whose_result_is_the_file(client):
    response = await client.post("/video", json={"html": COLOURS, "duration": 1, "fps": 5,
                                                 "async": True, **SMALL})
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    for _ in range(300):
        status = (await client.get(f"/jobs/{job_id}")).json()
        if status["status"] in ("completed", "failed"):
            break
        await asyncio.sleep(0.1)
    assert status["status"] == "completed", status
    result = await client.get(f"/jobs/{job_id}/result")
    assert result.headers["content-type"] == "video/mp4"
    assert len(Video(result.content).frames) == 5


async def test_a_batch_may_hold_videos_and_pictures(client):
    items = [{"html": CLICK, "format": "webm", "duration": 1, "fps": 2, **SMALL},
             {"html": CLICK, **SMALL}]
    response = await client.post("/batch", json={"requests": items, "response_type": "json"})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert all(r["ok"] for r in results), results
    assert [r["content_type"] for r in results] == ["video/webm", "image/png"], results
    video = Video((await client.get(results[0]["image_url"])).content)
    assert video.codec == "vp9" and len(video.frames) == 2


@pytest.mark.parametrize(("params", "field"), [
    ({"duration": 61}, "duration"),
    ({"duration": 0.5}, "duration"),
    ({"fps": 31}, "fps"),
    ({"fps": 0}, "fps"),
    ({"width": 1920, "height": 1080, "fps": 30, "duration": 60}, "duration"),
    ({"width": 1280, "height": 800, "device_scale_factor": 2, "duration": 20}, "duration"),
    ({"format": "png"}, "format"),
    ({"full_page": True}, "full_page"),
    ({"selector": "body"}, "selector"),
    ({"actions": json.dumps([{"type": "click", "selector": "#go", "delay": -1}])}, "actions"),
])
async def test_bounds_and_what_a_video_cannot_do_are_400s_naming_the_field(client, params,
                                                                           field, captures):
    response = await client.get("/video", params={"html": CLICK, **params})
    body = assert_error(response, 400, "VALIDATION_ERROR", field)
    assert field in body["message"]
    assert captures == []


async def test_video_fields_on_a_picture_are_refused(client):
    response = await client.get("/screenshot", params={"html": CLICK, "duration": 3})
    body = assert_error(response, 400, "VALIDATION_ERROR", "duration")
    assert "/video" in body["message"]


async def test_the_pixel_frame_bound_says_what_to_lower(client):
    response = await client.get("/video", params={"html": CLICK, "width": 1920,
                                                  "height": 1080, "duration": 60})
    message = assert_error(response, 400, "VALIDATION_ERROR", "duration")["message"]
    assert "1920×1080" in message and "1500 frames" in message


async def test_a_video_cannot_be_diffed(client):
    params = {"html": CLICK + "<!-- diffed -->", "duration": 1, "fps": 2, "response_type": "json",
              **SMALL}
    key = (await client.get("/video", params=params)).json()["cache_key"]
    response = await client.get("/diff", params={"cache_key_1": key, "cache_key_2": key})
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert "a video, which cannot be diffed" in body["message"], body


#: Red, green or blue by the second the page's clock reads.
TICKING = """<!doctype html><style>html,body{margin:0;height:100%}</style><body><script>
const colours = ['#ff0000', '#00ff00', '#0000ff'];
const paint = () => {
  document.body.style.background = colours[Math.floor(Date.now() / 1000) % 3];
};
paint();
setInterval(paint, 50);
</script>"""


async def test_with_freeze_time_the_recording_runs_on_from_the_frozen_time(client):
    video = await record(client, html=TICKING, duration=3, fps=5,
                         freeze_time="2024-05-01T12:00:00Z")
    shown = [video.colour_at(s) for s in (0.3, 1.3, 2.3)]
    names = {min(((255, 0, 0), (0, 255, 0), (0, 0, 255)),
                 key=lambda c, got=got: sum(abs(a - b) for a, b in zip(c, got, strict=True)))
             for got in shown}
    assert len(names) == 3, shown
