"""GET and POST /diff against real Chromium: two local pages that differ in one 50x50 box."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.support.checks import assert_error, decode, rgb_at
from tests.support.servers import Running, free_port
from tests.support.site import Site

from ..test_images import bomb_png

#: The after page adds a 50x50 box to the before page: exactly this many pixels change.
BOX_PIXELS = 2500
#: A point inside the added box, and one far from every change.
IN_BOX = (425, 325)
UNCHANGED = (900, 600)


def pages(site: Site) -> dict[str, str]:
    return {"before": site.url("/pages/diff-before"), "after": site.url("/pages/diff-after")}


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, "PNG")
    return buffer.getvalue()


def solid(width: int, height: int, rgba: tuple[int, int, int, int]) -> np.ndarray:
    image = np.empty((height, width, 4), dtype=np.uint8)
    image[:, :] = rgba
    return image


async def captured(client: httpx.AsyncClient, url: str) -> httpx.Response:
    response = await client.get("/screenshot", params={"url": url, "response_type": "json"})
    assert response.status_code == 200, response.text
    return response


async def completed_job(client: httpx.AsyncClient, url: str) -> str:
    response = await client.get("/screenshot", params={"url": url, "async": "true"})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    deadline = time.monotonic() + 60
    while (status := (await client.get(f"/jobs/{job_id}")).json()["status"]) != "completed":
        assert status in ("queued", "processing"), status
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    return job_id


async def test_get_diff_json_counts_the_box(client: httpx.AsyncClient, site: Site) -> None:
    response = await client.get("/diff", params={**pages(site), "response_type": "json"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["changed_pixels"] == BOX_PIXELS
    assert (body["width"], body["height"], body["total_pixels"]) == (1280, 800, 1280 * 800)
    assert body["diff_percent"] == round(100 * BOX_PIXELS / (1280 * 800), 4)
    assert body["has_changes"] is True and body["threshold"] == 0.1
    assert body["compared_size"] == {"width": 1280, "height": 800}
    for side, name in ((body["before"], "before"), (body["after"], "after")):
        assert side["source"] == "url" and side["given_as"] == name
        assert side["url"] == pages(site)[name]
        assert (await client.get(side["image_url"])).status_code == 200
    diff_image = await client.get(body["image_url"])
    assert diff_image.status_code == 200 and diff_image.headers["content-type"] == "image/png"
    assert rgb_at(decode(diff_image.content), *IN_BOX) == (255, 0, 0)


async def test_get_diff_image_and_base64(client: httpx.AsyncClient, site: Site) -> None:
    image = await client.get("/diff", params={**pages(site), "diff_color": "0,0,0",
                                              "alpha": "0"})
    assert image.status_code == 200, image.text
    assert image.headers["content-type"] == "image/png"
    assert image.headers["x-diff-changed-pixels"] == str(BOX_PIXELS)
    diff = decode(image.content)
    assert diff.size == (1280, 800)
    assert rgb_at(diff, *IN_BOX) == (0, 0, 0)  # the diff colour asked for
    assert rgb_at(diff, *UNCHANGED) == (255, 255, 255)  # alpha 0: unchanged is pure white
    assert rgb_at(diff, 100, 50) == (255, 255, 255)
    as_json = await client.get("/diff", params={**pages(site), "diff_color": "#000000",
                                                "alpha": "0", "response_type": "base64"})
    assert as_json.status_code == 200
    body = as_json.json()
    assert body["changed_pixels"] == BOX_PIXELS
    assert base64.b64decode(body["data"]) == image.content  # the same options, the same bytes
    assert body["cached"] is True  # "#000000" and "0,0,0" are the same colour
    download = await client.get("/diff", params={**pages(site), "download": "true"})
    assert download.headers["content-disposition"] == 'attachment; filename="diff.png"'


async def test_captures_and_diffs_are_cached(client: httpx.AsyncClient, site: Site,
                                             captures: list[Any]) -> None:
    fresh = {side: url + "?t=cached" for side, url in pages(site).items()}
    params = {**fresh, "threshold": "0.2", "response_type": "json"}
    first = await client.get("/diff", params=params)
    assert first.status_code == 200
    assert first.headers["x-cache"] == "MISS" and len(captures) == 2
    second = await client.get("/diff", params=params)
    assert second.headers["x-cache"] == "HIT" and second.json()["cached"] is True
    assert second.json()["before"]["cached"] is True
    assert len(captures) == 2  # no new capture: both pages came from the cache
    assert second.headers["etag"] == first.headers["etag"]
    revalidated = await client.get("/diff", params=params,
                                   headers={"If-None-Match": first.headers["etag"]})
    assert revalidated.status_code == 304
    other = await client.get("/diff", params={**params, "threshold": "0.3"})
    assert other.headers["x-cache"] == "MISS" and other.headers["etag"] != first.headers["etag"]


async def test_both_pages_are_captured_at_once(client: httpx.AsyncClient, site: Site,
                                               server: Running, captures: list[Any]) -> None:
    """Each capture waits 1.6 s before its shot, so one after the other would start 1.6 s
    apart; at once, the second starts while the first still waits."""
    starts: list[float] = []

    def started(opts: Any) -> None:
        starts.append(time.monotonic())

    server.service.capture_hooks.append(started)
    slow = site.url("/pages/delayed-paint")
    try:
        response = await client.get("/diff", params={
            "before": slow, "after": slow + "?v=2", "wait_for": "1600", "cache": "false",
            "response_type": "json"})
    finally:
        server.service.capture_hooks.remove(started)
    assert response.status_code == 200, response.text
    assert len(captures) == 2 and all(opts.delay == 1600 for opts in captures)
    assert len(starts) == 2 and starts[1] - starts[0] < 1.6, starts
    assert response.json()["changed_pixels"] == 0


async def test_post_base64_multipart_jobs_and_cache_keys(client: httpx.AsyncClient,
                                                         site: Site) -> None:
    before = await client.get("/screenshot", params={"url": pages(site)["before"]})
    after = await client.get("/screenshot", params={"url": pages(site)["after"]})
    b64 = {"image1": base64.b64encode(before.content).decode(),
           "image2": "data:image/png;base64," + base64.b64encode(after.content).decode(),
           "response_type": "json"}
    from_json = await client.post("/diff", json=b64)
    assert from_json.status_code == 200, from_json.text
    assert from_json.json()["changed_pixels"] == BOX_PIXELS
    assert from_json.json()["before"] == {"given_as": "image1", "source": "upload",
                                          "bytes": len(before.content)}

    upload = await client.post("/diff", files={"image1": ("a.png", before.content, "image/png"),
                                               "image2": ("b.png", after.content, "image/png")},
                               data={"response_type": "json", "threshold": "0.1"})
    assert upload.status_code == 200, upload.text
    assert upload.json()["changed_pixels"] == BOX_PIXELS
    assert upload.json()["diff_key"] == from_json.json()["diff_key"]  # same pair, same key

    jobs = [await completed_job(client, url) for url in pages(site).values()]
    by_job = await client.post("/diff", json={"job_id_1": jobs[0], "job_id_2": jobs[1],
                                              "response_type": "json"})
    assert by_job.status_code == 200, by_job.text
    assert by_job.json()["changed_pixels"] == BOX_PIXELS
    assert by_job.json()["after"]["job_id"] == jobs[1]

    keys = [before.headers["etag"].strip('"'), after.headers["etag"].strip('"')]
    by_key = await client.post("/diff", json={"cache_key_1": keys[0], "cache_key_2": keys[1],
                                              "response_type": "json"})
    assert by_key.status_code == 200, by_key.text
    assert by_key.json()["changed_pixels"] == BOX_PIXELS

    mixed = await client.post("/diff", json={"job_id_1": jobs[0], "after": pages(site)["after"],
                                             "response_type": "json"})
    assert mixed.json()["changed_pixels"] == BOX_PIXELS


async def test_post_sizes_that_differ(client: httpx.AsyncClient) -> None:
    white = solid(40, 30, (255, 255, 255, 255))
    wider = solid(50, 20, (255, 255, 255, 255))
    response = await client.post("/diff", json={
        "image1": base64.b64encode(png(white)).decode(),
        "image2": base64.b64encode(png(wider)).decode(), "response_type": "json"})
    body = response.json()
    assert (body["width"], body["height"]) == (50, 30)
    assert body["changed_pixels"] == 50 * 30 - 40 * 20
    assert body["compared_size"] == {"width": 40, "height": 20}
    assert body["before_size"] == {"width": 40, "height": 30}


async def test_post_errors(client: httpx.AsyncClient, site: Site) -> None:
    white = base64.b64encode(png(solid(8, 8, (255, 255, 255, 255)))).decode()
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, "GIF")
    assert_error(await client.post("/diff", json={"image1": white}), 400,
                 "VALIDATION_ERROR", "image2")
    assert_error(await client.post("/diff", json={
        "image1": white, "image2": base64.b64encode(gif.getvalue()).decode()}),
        400, "VALIDATION_ERROR", "image2")
    assert_error(await client.post("/diff", json={"image1": white, "image2": "%%%"}),
                 400, "VALIDATION_ERROR", "image2")
    assert_error(await client.post("/diff", json={"image1": white, "image2": white,
                                                  "job_id_2": "0" * 32}),
                 400, "VALIDATION_ERROR", "job_id_2")
    assert_error(await client.post("/diff", json={"image1": white, "job_id_2": "0" * 32}),
                 404, "NOT_FOUND")
    assert_error(await client.post("/diff", json={"image1": white, "cache_key_2": "f" * 64}),
                 404, "NOT_FOUND", "cache_key_2")
    assert_error(await client.post("/diff", json={"image1": white, "image2": white,
                                                  "threshold": 2}),
                 400, "VALIDATION_ERROR", "threshold")
    assert_error(await client.post("/diff", json={"image1": white, "image2": white,
                                                  "width": 800}),
                 400, "VALIDATION_ERROR", "width")
    assert_error(await client.post("/diff", json={"image1": white, "image2": white,
                                                  "diff_color": "red"}),
                 400, "VALIDATION_ERROR", "diff_color")
    typo = assert_error(await client.post("/diff", json={"image1": white, "image2": white,
                                                         "treshold": 0.2}),
                        400, "VALIDATION_ERROR", "treshold")
    assert "did you mean 'threshold'?" in typo["message"]
    pending = (await client.get("/screenshot", params={
        "url": site.url("/slow?ms=3000"), "async": "true"})).json()["job_id"]
    assert_error(await client.post("/diff", json={"job_id_1": pending, "image2": white}),
                 409, "NOT_READY", "job_id_1")


async def test_get_errors(client: httpx.AsyncClient, site: Site, captures: list[Any]) -> None:
    assert_error(await client.get("/diff", params={"before": pages(site)["before"]}),
                 400, "VALIDATION_ERROR", "image2")
    assert_error(await client.get("/diff", params={**pages(site), "format": "jpeg"}),
                 400, "VALIDATION_ERROR", "format")
    assert_error(await client.get("/diff", params={**pages(site), "response_type": "pdf"}),
                 400, "VALIDATION_ERROR", "response_type")
    assert_error(await client.get("/diff", params={**pages(site), "widht": "800"}),
                 400, "VALIDATION_ERROR", "widht")
    assert_error(await client.get("/diff", params={"before": "ftp://x", "after": "https://x"}),
                 400, "INVALID_URL", "before")
    assert not captures


async def test_the_guard_refuses_before_anything_is_captured(
        client: httpx.AsyncClient, site: Site, captures: list[Any]) -> None:
    """A private ``after`` refuses the whole diff; ``before`` is not captured either."""
    private = f"http://127.0.0.2:{free_port()}/"
    response = await client.get("/diff", params={"before": pages(site)["before"] + "?fresh=1",
                                                 "after": private})
    assert_error(response, 403, "BLOCKED")
    assert not captures


async def test_a_bomb_is_refused_with_413(client: httpx.AsyncClient) -> None:
    white = png(solid(8, 8, (255, 255, 255, 255)))
    started = time.monotonic()
    response = await client.post("/diff", files={"image1": ("a.png", white, "image/png"),
                                                  "image2": ("b.png", bomb_png(10_000, 10_000),
                                                             "image/png")})
    assert_error(response, 413, "PAYLOAD_TOO_LARGE", "image2")
    assert "10000x10000" in response.json()["message"]
    assert time.monotonic() - started < 2


async def test_health_answers_while_a_large_diff_runs(client: httpx.AsyncClient) -> None:
    """A 3000x3000 pair in which every pixel changes takes the diff a second or more; /health
    keeps answering at once meanwhile, because the work runs in a thread."""
    n = 3000
    yy, xx = np.mgrid[0:n, 0:n]
    checks = solid(n, n, (0, 0, 0, 255))
    checks[..., :3] = (((xx // 2 + yy // 2) % 2) * 255)[..., None]
    inverted = checks.copy()
    inverted[..., :3] = 255 - checks[..., :3]
    files = {"image1": ("a.png", png(checks), "image/png"),
             "image2": ("b.png", png(inverted), "image/png")}
    work = asyncio.create_task(client.post("/diff", files=files,
                                           data={"response_type": "json", "cache": "false"}))
    latencies = []
    while not work.done():
        started = time.monotonic()
        health = await client.get("/health")
        latencies.append(time.monotonic() - started)
        assert health.status_code == 200
        await asyncio.sleep(0.05)
    response = await work
    assert response.status_code == 200, response.text
    assert response.json()["changed_pixels"] == n * n
    assert int(response.headers["x-diff-time-ms"]) > 500  # long enough to prove the point
    assert len(latencies) >= 5
    assert max(latencies) < 0.5, latencies


async def test_health_answers_while_a_large_json_body_is_read(client: httpx.AsyncClient) -> None:
    """Two 12 MB images as base64 in a 32 MB JSON body: parsing the JSON and decoding the
    base64 take a few hundred ms, none of it on the event loop."""
    noise = np.random.default_rng(6).integers(0, 256, size=(1700, 1700, 4), dtype=np.uint8)
    noise[..., 3] = 255
    encoded = base64.b64encode(png(noise)).decode()
    body = {"image1": encoded, "image2": "\n".join(encoded[i:i + 76]
                                                  for i in range(0, len(encoded), 76)),
            "response_type": "json", "cache": "false"}
    work = asyncio.create_task(client.post("/diff", json=body))
    latencies = []
    while not work.done():
        started = time.monotonic()
        assert (await client.get("/health")).status_code == 200
        latencies.append(time.monotonic() - started)
        await asyncio.sleep(0.02)
    response = await work
    assert response.status_code == 200, response.text
    assert response.json()["changed_pixels"] == 0  # the same image, wrapped at 76 columns
    assert len(latencies) >= 5
    assert max(latencies) < 0.3, latencies


async def test_health_reports_the_diff_workers(server: Running) -> None:
    report = (await server.client.get("/health")).json()
    assert set(report["diff"]) >= {"running", "waiting", "diffs", "hits", "coalesced"}


@pytest.mark.parametrize("response_type", ["json", "image"])
async def test_identical_pages_give_zero(client: httpx.AsyncClient, site: Site,
                                         response_type: str) -> None:
    url = pages(site)["before"]
    response = await client.get("/diff", params={"before": url, "after": url,
                                                 "response_type": response_type})
    assert response.status_code == 200
    assert response.headers["x-diff-changed-pixels"] == "0"
