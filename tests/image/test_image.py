"""The Docker image, as self-hosters run it: built from the Dockerfile (``make image-test``
builds it with buildah first), then started with its own user, entrypoint and command.

It must start, answer ``/health`` and its own HEALTHCHECK, render a page with emoji and CJK
glyphs, run nothing as root, stop on SIGTERM within the compose file's grace period leaving no
Chromium behind, and share its cache through Redis across a restart.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import pytest
import yaml
from PIL import Image

from tests.support.servers import RedisServer, free_port
from tests.support.site import Site, serve_site

from .container import Container, ImageConfig, Proc

pytestmark = pytest.mark.image

ROOT = Path(__file__).resolve().parents[2]

#: Four cells of 160 px: a red emoji, two CJK ideographs, and a code point no font has (which
#: every browser draws as the "tofu" box a missing font leaves).
GLYPHS = ("\N{RED APPLE}", "\u6f22", "\u5b57", "\U0010fffd")
CELL = 160
GLYPH_PAGE = (
    "<!doctype html><meta charset=utf-8><style>"
    "html,body{margin:0;background:#fff}"
    f"div{{position:absolute;top:0;width:{CELL}px;height:{CELL}px;font-size:110px;"
    "line-height:1;text-align:center;color:#000;font-family:sans-serif}</style>"
    + "".join(f'<div style="left:{i * CELL}px">{g}</div>' for i, g in enumerate(GLYPHS))
)


def stop_grace_seconds() -> float:
    """The compose file's ``stop_grace_period``: how long Docker waits before SIGKILL."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    value = str(compose["services"]["screenshotd"]["stop_grace_period"])
    assert value.endswith("s"), value
    return float(value[:-1])


@pytest.fixture(scope="module")
def page_site() -> Iterator[Site]:
    with serve_site() as site:
        yield site


def glyph_url(site: Site) -> str:
    return site.url("/serve?html=" + quote(GLYPH_PAGE))


def env_for(port: int, **extra: str) -> dict[str, str]:
    # The test's pages and Redis live on the host's loopback, which the guard blocks by default.
    return {"PORT": str(port), "ALLOW_PRIVATE_HOSTS": "127.0.0.1", **extra}


def cells(png: bytes) -> list[np.ndarray]:
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    return [image[:CELL, i * CELL:(i + 1) * CELL] for i in range(len(GLYPHS))]


def ink(cell: np.ndarray) -> np.ndarray:
    """Where the cell is not white."""
    return (cell < 200).any(axis=2)


@pytest.fixture(scope="module")
def container(page_site: Site) -> Iterator[Container]:
    """One running container of the image, with the in-memory cache."""
    with Container(env_for(free_port())) as running:
        running.start()
        running.wait_healthy()
        yield running


def test_the_image_is_configured_to_run_unprivileged_under_an_init() -> None:
    config = ImageConfig.load()
    assert config.user and config.user not in ("0", "root"), config.user
    assert config.entrypoint[0].endswith("/tini"), config.entrypoint
    assert config.cmd == ["screenshotd", "serve"]
    assert config.env["HOST"] == "0.0.0.0" and config.env["PORT"] == "3000"
    assert "3000/tcp" in config.exposed_ports
    assert config.healthcheck and config.healthcheck[0] == "CMD"


def test_it_answers_health_and_its_own_healthcheck(container: Container) -> None:
    health = httpx.get(f"{container.base}/health", timeout=10)
    assert health.status_code == 200
    assert health.json()["status"] == "ok", health.json()
    # Docker runs the HEALTHCHECK command inside the container: run it the same way.
    check = container.exec(container.config.healthcheck[1:])
    assert check.returncode == 0, check.stdout + check.stderr


def test_it_renders_emoji_and_cjk_glyphs(container: Container, page_site: Site) -> None:
    response = httpx.get(f"{container.base}/screenshot",
                         params={"url": glyph_url(page_site), "width": 4 * CELL, "height": CELL},
                         timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    emoji, han, zi, tofu = cells(response.content)
    # The emoji is drawn in colour: many strongly red pixels (a missing emoji font gives a
    # black outline or a box).
    red = (emoji[..., 0] > 150) & (emoji[..., 1] < 90) & (emoji[..., 2] < 90)
    assert red.sum() > 2000, f"{red.sum()} red pixels in the emoji cell"
    # Each ideograph has ink, and its own shape: without a CJK font both would be the same
    # box as the code point that no font has.
    for name, cell in (("han", han), ("zi", zi)):
        assert ink(cell).sum() > 800, f"{name}: {ink(cell).sum()} inked pixels"
        assert (ink(cell) != ink(tofu)).sum() > 500, f"{name} is drawn as the missing-glyph box"
    assert (ink(han) != ink(zi)).sum() > 500, "two different ideographs look the same"


def test_nothing_in_it_runs_as_root(container: Container, page_site: Site) -> None:
    # A capture first, so Chromium and its renderers are among the processes checked.
    shot = httpx.get(f"{container.base}/screenshot",
                     params={"url": glyph_url(page_site), "cache": "false"}, timeout=60)
    assert shot.status_code == 200, shot.text
    processes = container.processes()
    names = {p.comm for p in processes}
    assert "tini" in names and any(n.startswith("chrom") for n in names), names
    root = [p for p in processes if 0 in p.uids]
    assert not root, f"running as root: {root}"
    assert {p.uids[0] for p in processes} == {int(container.config.user)}


def test_sigterm_stops_it_within_the_grace_period_leaving_no_chromium(page_site: Site) -> None:
    with Container(env_for(free_port())) as running:
        running.start()
        running.wait_healthy()
        shot = httpx.get(f"{running.base}/screenshot", params={"url": glyph_url(page_site)},
                         timeout=60)
        assert shot.status_code == 200, shot.text
        before: list[Proc] = running.processes()
        assert any(p.comm.startswith("chrom") for p in before)
        grace = stop_grace_seconds()
        took = running.stop(timeout=grace)
        assert running.proc is not None and running.proc.returncode == 0, running.output()
        assert "Finished server process" in running.output()
        # The browser's helpers end a moment after it: all of them within the grace period.
        deadline = time.monotonic() + grace - took
        while (left := [p for p in before if p.alive()]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, f"left running {grace} s after SIGTERM: {left}"


def test_with_redis_a_capture_is_a_hit_after_the_image_restarts(page_site: Site) -> None:
    url = page_site.url("/serve?html=" + quote("<body style='background:#0a0'>restart</body>"))
    with RedisServer() as redis:
        port = free_port()
        env = env_for(port, REDIS_URL=redis.url)
        with Container(env) as first:
            first.start()
            first.wait_healthy()
            assert httpx.get(f"{first.base}/health", timeout=10).json()["cache"]["backend"] == "redis"
            miss = httpx.get(f"{first.base}/screenshot", params={"url": url}, timeout=60)
            assert miss.status_code == 200 and miss.headers["x-cache"] == "MISS", miss.text
            first.stop(timeout=stop_grace_seconds())
        with Container(env) as second:
            second.start()
            second.wait_healthy()
            hit = httpx.get(f"{second.base}/screenshot", params={"url": url}, timeout=60)
            assert hit.status_code == 200, hit.text
            assert hit.headers["x-cache"] == "HIT"
            assert hit.headers["etag"] == miss.headers["etag"] and hit.content == miss.content
