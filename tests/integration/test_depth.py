"""Capture depth: ``block_resources``, ``fail_on_status`` and the ``pdf_*`` options (PDFs read
with pypdf)."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from pypdf import PdfReader

from tests.support.checks import assert_error, decode, near, rgb_at
from tests.support.site import Site

RED = (255, 0, 0)


def served(site: Site, html: str) -> str:
    return site.url("/serve?html=" + quote(html))


async def capture(client: Any, **params: Any) -> Any:
    response = await client.get("/screenshot", params={"cache": "false", **params})
    assert response.status_code == 200, response.text
    return response


def red_pixels(image: Any) -> int:
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int)
    return int(((pixels[:, 0] > 200) & (pixels[:, 1] < 60) & (pixels[:, 2] < 60)).sum())


# ---------------------------------------------------------------------------- block_resources


async def test_block_resources_image_and_font_leaves_no_image_and_counts(client, site: Site):
    html = (f'<body style="margin:0;background:#fff"><img src="{site.url("/img.png?c=ff0000&w=300&h=200")}">'
            f'<style>@font-face{{font-family:x;src:url("{site.url("/img.png?font=1")}")}}</style>'
            '<p style="font-family:x">text</p></body>')
    url = served(site, html)
    shown = decode((await capture(client, url=url, width=400, height=300)).content)
    assert red_pixels(shown) > 50_000  # the control: the image is there without the option
    response = await capture(client, url=url, width=400, height=300,
                             block_resources="image,font", response_type="json")
    body = response.json()
    assert body["blocked"].get("resources", 0) >= 1, body
    blocked = decode((await capture(client, url=url, width=400, height=300,
                                    block_resources="image,font")).content)
    assert red_pixels(blocked) == 0


async def test_block_resources_stylesheet_renders_the_page_unstyled(client, site: Site):
    sheet = site.url("/css?body=" + quote("html,body{background:#0000ff !important}"))
    url = served(site, f'<link rel="stylesheet" href="{sheet}"><p>hello</p>')
    styled = decode((await capture(client, url=url)).content)
    assert near(rgb_at(styled, 600, 600), (0, 0, 255))
    plain = decode((await capture(client, url=url, block_resources=["stylesheet"])).content)
    assert near(rgb_at(plain, 600, 600), (255, 255, 255))


async def test_block_resources_websocket_closes_the_socket_first(client, site: Site):
    port = site.base.rsplit(":", 1)[1]
    html = ('<body style="margin:0;background:#fff"><script>'
            f'const s = new WebSocket("ws://127.0.0.1:{port}/ws");'
            's.onclose = () => document.body.style.background = "#f00";</script></body>')
    response = await capture(client, url=served(site, html), block_resources="websocket",
                             delay=300, response_type="json")
    assert response.json()["blocked"].get("resources", 0) >= 1, response.json()


async def test_the_main_document_is_never_blocked_by_type(client, site: Site):
    response = await capture(client, url=site.url("/pages/basic?types=all"),
                             block_resources=",".join(["image", "media", "font", "stylesheet",
                                                       "script", "xhr", "fetch", "websocket",
                                                       "other"]))
    assert near(rgb_at(decode(response.content), 10, 10), RED)


@pytest.mark.parametrize("value", ["images", "image,gif", "document"])
async def test_an_unknown_resource_type_is_a_400(client, site: Site, value):
    response = await client.get("/screenshot", params={"url": site.url("/pages/basic"),
                                                       "block_resources": value})
    body = assert_error(response, 400, "VALIDATION_ERROR", "block_resources")
    assert "stylesheet" in body["message"]


# ---------------------------------------------------------------------------- fail_on_status


@pytest.mark.parametrize("rule", ["4xx", "404", "400-499", "500-599,404"])
async def test_fail_on_status_is_a_422_with_the_status(client, site: Site, rule):
    url = site.url(f"/status?code=404&rule={quote(rule)}")
    response = await client.get("/screenshot", params={"url": url, "fail_on_status": rule})
    body = assert_error(response, 422, "UPSTREAM_STATUS", "fail_on_status")
    assert body["status"] == 404 and "404" in body["message"]
    again = await client.get("/screenshot", params={"url": url, "fail_on_status": rule})
    assert again.status_code == 422  # never cached as a success
    assert (await client.get("/screenshot", params={"url": url})).status_code == 200


async def test_fail_on_status_lets_other_statuses_through(client, site: Site):
    response = await client.get("/screenshot", params={
        "url": site.url("/status?code=404&other=1"), "fail_on_status": "5xx"})
    assert response.status_code == 200


async def test_the_same_rule_written_two_ways_is_one_cache_key(client, site: Site):
    keys = set()
    for rule in ("4xx,404", "400-499", " 4XX "):
        response = await client.get("/screenshot", params={
            "url": site.url("/pages/basic?rules=1"), "fail_on_status": rule,
            "response_type": "json"})
        keys.add(response.json()["cache_key"])
    assert len(keys) == 1


@pytest.mark.parametrize("rule", ["abc", "600", "4xx,", "499-400", "6xx"])
async def test_a_bad_status_rule_is_a_400(client, site: Site, rule):
    response = await client.get("/screenshot", params={"url": site.url("/pages/basic"),
                                                       "fail_on_status": rule})
    assert_error(response, 400, "VALIDATION_ERROR", "fail_on_status")


# ---------------------------------------------------------------------------- PDF


def sections(count: int) -> str:
    return ("<style>section{page-break-after:always;font:20px sans-serif}</style>"
            + "".join(f"<section><h1>Chapter {n}</h1><p>Text of chapter {n}.</p></section>"
                      for n in range(1, count + 1)))


async def pdf(client: Any, html: str, **params: Any) -> PdfReader:
    response = await client.post("/screenshot", json={"html": html, "format": "pdf", **params})
    assert response.status_code == 200, response.text
    return PdfReader(io.BytesIO(response.content))


async def test_page_ranges_keep_those_pages(client):
    reader = await pdf(client, sections(6), pdf_page_ranges="1-3,5")
    assert len(reader.pages) == 4
    assert "Chapter 5" in reader.pages[3].extract_text()


async def test_a_range_past_the_last_page_is_a_400_with_the_count(client):
    response = await client.post("/screenshot", json={"html": sections(3), "format": "pdf",
                                                      "pdf_page_ranges": "2-7"})
    body = assert_error(response, 400, "VALIDATION_ERROR", "pdf_page_ranges")
    assert "3 pages" in body["message"], body


async def test_a_custom_size_and_the_pages_own_size(client):
    custom = await pdf(client, sections(1), pdf_width="5in", pdf_height="4in")
    box = custom.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (360, 288)
    own = await pdf(client, "<style>@page{size:3in 2in}</style>" + sections(1),
                    pdf_prefer_css_page_size=True)
    box = own.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (216, 144)


def first_text_top(reader: PdfReader) -> float:
    found: list[float] = []

    def visit(text: str, cm: Any, tm: Any, *_: Any) -> None:
        if text.strip() and not found:
            found.append(float(tm[5]) * float(cm[3]) + float(cm[5]))

    reader.pages[0].extract_text(visitor_text=visit)
    return found[0]


async def test_margins_move_the_text(client):
    flush = first_text_top(await pdf(client, sections(1)))
    inset = first_text_top(await pdf(client, sections(1), pdf_margin_top="1in",
                                     pdf_margin_left="2cm"))
    assert flush - inset == pytest.approx(72, abs=3)  # one inch, in points


async def test_header_and_footer_with_page_numbers_on_every_page(client):
    footer = ('<div style="font-size:10px;width:100%;text-align:center">Page '
              '<span class="pageNumber"></span> of <span class="totalPages"></span></div>')
    header = '<div style="font-size:10px;margin-left:1cm">Quarterly report</div>'
    reader = await pdf(client, sections(3), pdf_header_template=header,
                       pdf_footer_template=footer)
    assert len(reader.pages) == 3
    for number, page in enumerate(reader.pages, 1):
        text = page.extract_text()
        assert f"Page {number} of 3" in text and "Quarterly report" in text, text


async def test_outline_and_tagged(client):
    outlined = await pdf(client, sections(3), pdf_outline=True, pdf_tagged=True)
    titles = [entry.title for entry in outlined.outline if not isinstance(entry, list)]
    assert titles[:3] == ["Chapter 1", "Chapter 2", "Chapter 3"], titles
    assert "/StructTreeRoot" in outlined.trailer["/Root"]
    plain = await pdf(client, sections(3))
    assert not plain.outline and "/StructTreeRoot" not in plain.trailer["/Root"]
    tagged = await pdf(client, sections(3), pdf_tagged=True)
    assert not tagged.outline and "/StructTreeRoot" in tagged.trailer["/Root"]


async def test_an_outline_alone_is_an_outline(client):
    """``pdf_outline`` on its own turns tagging on: without it Chromium's outline is empty."""
    alone = await pdf(client, sections(3), pdf_outline=True)
    titles = [entry.title for entry in alone.outline if not isinstance(entry, list)]
    assert titles[:3] == ["Chapter 1", "Chapter 2", "Chapter 3"], titles


@pytest.mark.parametrize(("params", "field"), [
    ({"pdf_margin_top": "1 furlong"}, "pdf_margin_top"),
    ({"pdf_margin_left": "300in"}, "pdf_margin_left"),
    ({"pdf_width": "0mm"}, "pdf_width"),
    ({"pdf_page_ranges": "3-1"}, "pdf_page_ranges"),
    ({"pdf_page_ranges": "0"}, "pdf_page_ranges"),
    ({"pdf_page_ranges": "1;2"}, "pdf_page_ranges"),
    ({"pdf_scale": 3}, "pdf_scale"),
    ({"pdf_header_template": "x" * 70_000}, "pdf_header_template"),
    ({"format": "png", "pdf_margin_top": "1in"}, "pdf_margin_top"),
])
async def test_bad_pdf_options_are_400s_naming_the_field(client, params, field):
    response = await client.post("/screenshot", json={"html": "<p>x</p>", "format": "pdf",
                                                      **params})
    assert_error(response, 400, "VALIDATION_ERROR", field)


# ---------------------------------------------------------------------------- animations, caret

ANIMATED = """<!doctype html><style>
html,body{margin:0;height:100%}
@keyframes fade{from{background:#ff0000}to{background:#0000ff}}
#finite{height:50%;animation:fade 20s linear forwards}
@keyframes spin{from{background:#00ff00}to{background:#ff00ff}}
#forever{height:50%;background:#ffffff;animation:spin 2s linear infinite}
</style><div id="finite"></div><div id="forever"></div>"""


@pytest.mark.parametrize("full_page", [False, True])
async def test_animations_disabled_jumps_to_the_end_and_cancels_the_endless(client, full_page):
    params = {"html": ANIMATED, "width": 400, "height": 400, "cache": False}
    if full_page:
        params["full_page"] = True
    moving = decode((await client.post("/screenshot", json=params)).content)
    assert not near(rgb_at(moving, 200, 100), (0, 0, 255), 30)  # mid-fade, not at its end
    settled = decode((await client.post("/screenshot", json={**params,
                                                             "animations": "disabled"})).content)
    assert near(rgb_at(settled, 200, 100), (0, 0, 255))  # the fade's end (fill forwards)
    assert near(rgb_at(settled, 200, 300), (255, 255, 255))  # the endless one cancelled


CARET = """<!doctype html><style>body{margin:0}input{font-size:60px;width:300px;border:0;
outline:0;caret-color:#ff0000;color:#fff;background:#fff}</style>
<input id="field" autofocus><script>document.getElementById('field').focus()</script>"""


async def test_the_caret_is_hidden_unless_asked_for(client):
    hidden = decode((await client.post("/screenshot", json={
        "html": CARET, "width": 320, "height": 120, "cache": False})).content)
    assert red_pixels(hidden) == 0
    shown = 0
    for _ in range(4):  # the caret blinks: one of a few shots has it
        image = decode((await client.post("/screenshot", json={
            "html": CARET, "width": 320, "height": 120, "cache": False,
            "caret": "initial"})).content)
        shown = max(shown, red_pixels(image))
    assert shown > 20, shown
