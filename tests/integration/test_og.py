"""``/og-image``: Open Graph images from templates, rendered by the pool as HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from screenshotd.core.og import OgImages, OgTemplateError
from screenshotd.params.og import OgOptions
from tests.support.checks import assert_error, decode, near, rgb_at
from tests.support.servers import Running, make_settings, run_server


def pixels(image: Any, box: tuple[int, int, int, int]) -> list[tuple[int, int, int]]:
    flat = np.asarray(image.convert("RGB").crop(box)).reshape(-1, 3).tolist()
    return [(r, g, b) for r, g, b in flat]


def close_to(pixel: tuple[int, int, int], colour: tuple[int, int, int], within: int = 40) -> bool:
    return all(abs(a - b) <= within for a, b in zip(pixel, colour, strict=True))


async def og(client: Any, **params: Any) -> Any:
    response = await client.get("/og-image", params={"response_type": "image", **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/"), response.headers
    return decode(response.content)


async def test_the_default_image_is_1200_by_630_with_the_title_in_its_colour(client):
    image = await og(client, title="Shipping screenshots at scale", text_color="#ff0000",
                     bg_color="#ffffff")
    assert image.size == (1200, 630)
    assert near(rgb_at(image, 1150, 20), (255, 255, 255))  # the background
    title = pixels(image, (80, 150, 1120, 480))  # where the basic template sets the title
    red = sum(close_to(p, (255, 0, 0)) for p in title)
    assert red > 2000, red
    outside = pixels(image, (80, 560, 1120, 630))
    assert sum(close_to(p, (255, 0, 0)) for p in outside) == 0


async def test_the_dark_theme(client):
    image = await og(client, title="Dark", theme="dark", template="minimal", format="jpeg")
    assert near(rgb_at(image, 10, 10), (15, 23, 42))  # the dark theme's #0f172a
    middle = pixels(image, (400, 200, 800, 430))
    assert sum(min(p) > 200 for p in middle) > 500  # the light title


async def test_cjk_and_emoji_titles_render_glyphs_not_tofu(client):
    """Glyphs, compared with the same length of characters no font has (boxes)."""
    real = await og(client, title="你好，世界 🎉🚀", template="minimal", bg_color="#ffffff",
                    text_color="#000000")
    tofu = await og(client, title="\ue000\ue001\ue002\ue003\ue004 \ue005\ue006",
                    template="minimal", bg_color="#ffffff", text_color="#000000")
    assert real.tobytes() != tofu.tobytes()
    colourful = [p for p in pixels(real, (0, 0, 1200, 630))
                 if max(p) - min(p) > 80]  # the emoji are in colour; the text is black
    assert len(colourful) > 500, len(colourful)
    assert not [p for p in pixels(tofu, (0, 0, 1200, 630)) if max(p) - min(p) > 80]


async def test_get_redirects_to_a_working_image_url_and_it_is_cached_and_etagged(
        client, captures):
    params = {"title": "Redirected", "description": "and cached"}
    response = await client.get("/og-image", params=params)
    assert response.status_code == 302
    location = response.headers["location"]
    assert "/images/" in location and location.endswith(".png")
    image = await client.get(location)
    assert image.status_code == 200 and decode(image.content).size == (1200, 630)
    before = len(captures)
    again = await client.get("/og-image", params={**params, "redirect": "false"})
    assert again.headers["x-cache"] == "HIT" and len(captures) == before
    etag = again.headers["etag"]
    assert (await client.get("/og-image", params={**params, "redirect": "false"},
                             headers={"If-None-Match": etag})).status_code == 304
    body = (await client.post("/og-image", json={**params, "responseType": "json"})).json()
    assert body["width"] == 1200 and body["image_url"] == location


async def test_redirect_false_answers_json_with_an_image_url_that_opens(client):
    """The seed API's ``redirect: false``: JSON with ``image_url``, on GET and on POST; the
    bytes only when ``response_type=image`` asks for them."""
    params = {"title": "As JSON", "description": "redirect false"}
    got = await client.get("/og-image", params={**params, "redirect": "false"})
    assert got.status_code == 200 and got.headers["content-type"] == "application/json"
    body = got.json()
    assert body["width"] == 1200 and body["height"] == 630 and "data" not in body
    image = await client.get(body["image_url"])
    assert image.status_code == 200 and decode(image.content).size == (1200, 630)
    posted = await client.post("/og-image", json={**params, "redirect": False})
    assert posted.json()["image_url"] == body["image_url"]
    as_bytes = await client.get("/og-image", params={
        **params, "redirect": "false", "response_type": "image"})
    assert as_bytes.headers["content-type"] == "image/png"
    assert as_bytes.content == image.content
    encoded = (await client.get("/og-image", params={
        **params, "redirect": "false", "response_type": "base64"})).json()
    assert encoded["image_url"] == body["image_url"] and encoded["data"]
    # POST without ``redirect`` still answers the bytes; GET still redirects
    assert (await client.post("/og-image", json=params)).content == image.content
    assert (await client.get("/og-image", params=params)).status_code == 302


async def test_a_logo_at_a_private_address_is_refused(client):
    assert_error(await client.get("/og-image", params={
        "title": "x", "logo_url": "http://10.0.0.1/logo.png"}), 403, "BLOCKED", field="logo_url")


@pytest.mark.parametrize(("params", "field"), [
    ({}, "title"), ({"title": "x" * 151}, "title"), ({"title": "t", "bg_color": "red"},
                                                      "bg_color"),
    ({"title": "t", "template": "nope"}, "template"), ({"title": "t", "width": 10}, "width"),
    ({"title": "t", "logo_url": "ftp://x"}, "logo_url"), ({"title": "t", "colour": 1}, "colour"),
])
async def test_bad_parameters_are_400s_naming_the_field(client, params: dict[str, Any],
                                                         field: str):
    response = await client.get("/og-image", params=params)
    assert response.status_code == 400 and response.json()["field"] == field, response.text


def test_a_template_escapes_the_title_and_cannot_reach_python(tmp_path: Path):
    (tmp_path / "mine.html").write_text("<html><body><h1>{{ title }}</h1></body></html>")
    images = OgImages(service=None, templates_dir=str(tmp_path))  # type: ignore[arg-type]
    html = images.html(OgOptions.parse({"title": "<b id=x>bold</b>", "template": "mine"}))
    assert "&lt;b id=x&gt;bold&lt;/b&gt;" in html and "<b id=x>" not in html
    (tmp_path / "evil.html").write_text("{{ title.__class__.__mro__[1].__subclasses__() }}")
    evil = OgImages(service=None, templates_dir=str(tmp_path))  # type: ignore[arg-type]
    with pytest.raises(Exception) as raised:
        evil.html(OgOptions.parse({"title": "t", "template": "evil"}))
    assert "INTERNAL" in repr(raised.value) or "failed" in str(raised.value)
    (tmp_path / "broken.html").write_text("{% if %}")
    with pytest.raises(OgTemplateError) as broken:
        OgImages(service=None, templates_dir=str(tmp_path))  # type: ignore[arg-type]
    assert "broken.html" in str(broken.value)


async def test_an_operator_template_renders(tmp_path: Path):
    (tmp_path / "stripe.html").write_text(
        '<html><body style="margin:0;background:{{ bg_color }}">'
        '<div style="height:100px;background:#00ff00"></div>{{ title }}</body></html>')
    async with run_server(make_settings(og_templates_dir=str(tmp_path))) as running:
        image = await og(running.client, title="mine", template="stripe", width=400, height=300)
        assert image.size == (400, 300) and near(rgb_at(image, 10, 10), (0, 255, 0))
        assert near(rgb_at(image, 10, 200), (255, 255, 255))
        listed = await running.client.get("/og-image", params={"title": "t", "template": "no"})
        assert "stripe" in listed.json()["message"]


def test_running_is_the_shared_fixture(server: Running):
    assert server.app.state.og.names == ["article", "basic", "minimal"]
