"""Every capture parameter of this issue, asserted on what the user gets back."""

from __future__ import annotations

import base64
import io
import json
from urllib.parse import quote

import pypdf
import pytest

from tests.support.checks import decode, near, rgb_at
from tests.support.pages import BLACK, BLUE, GREEN, PAGES, RED, WHITE
from tests.support.site import Site

pytestmark = pytest.mark.asyncio


async def shot(client, **params):
    """A fresh capture (``cache=false`` unless given): these tests are about rendering."""
    params.setdefault("cache", "false")
    response = await client.get("/screenshot", params=params)
    assert response.status_code == 200, response.text
    return response


async def image(client, **params):
    return decode((await shot(client, **params)).content)


# ---------------------------------------------------------------- one parameter, one change

#: Pages that look one way by default and another with the parameter: (page, parameters, the
#: point to read, its colour without them, its colour with them).
BEFORE_AFTER = [
    ("touch", {"viewport_mobile": "true"}, (10, 10), RED, GREEN),
    ("split", {"scroll_to": 1000}, (640, 400), RED, GREEN),
    ("delayed-paint", {"delay": 2500}, (640, 400), WHITE, GREEN),
    ("networkidle0", {"wait_until": "networkidle0"}, (640, 400), WHITE, GREEN),
    ("motion", {"reduced_motion": 1}, (10, 10), RED, GREEN),
    ("print", {"media_type": "print"}, (10, 10), RED, BLUE),
    # The request filter has a DevTools session of its own on the page; the media type must
    # survive it (Chromium drops it on navigation when a second session is attached).
    ("print", {"media_type": "print", "block_ads": "true"}, (10, 10), RED, BLUE),
    ("timezone", {"timezone": "Asia/Tokyo"}, (10, 10), RED, GREEN),
    ("user-agent", {"user_agent": "screenshotd-test/1.0"}, (10, 10), RED, GREEN),
    ("stealth", {"stealth": "true"}, (10, 10), RED, GREEN),
]


@pytest.mark.parametrize(
    "name, params, point, without, expected", BEFORE_AFTER, ids=[row[0] for row in BEFORE_AFTER]
)
async def test_parameter_changes_the_picture(client, site: Site, name, params, point, without,
                                             expected):
    url = site.url(f"/pages/{name}")
    assert near(rgb_at(await image(client, url=url), *point), without)
    assert near(rgb_at(await image(client, url=url, **params), *point), expected)


# ---------------------------------------------------------------- sources


async def test_url_renders_the_page(client, site: Site):
    response = await shot(client, url=site.url("/pages/basic"))
    assert response.headers["content-type"] == "image/png"
    assert int(response.headers["x-render-time-ms"]) > 0
    img = decode(response.content)
    assert img.size == (1280, 800)
    assert near(rgb_at(img, 10, 10), RED)
    assert near(rgb_at(img, 600, 400), WHITE)


async def test_html_is_rendered(client):
    img = await image(client, html="<body style='margin:0;background:rgb(0,0,255)'>x</body>")
    assert near(rgb_at(img, 640, 400), BLUE)


CARET = ("<body style='margin:0'><input id=i autofocus style='font-size:300px;width:1200px;"
         "border:0;outline:0;caret-color:rgb(255,0,0)'>"
         "<script>i.focus()</script></body>")


@pytest.mark.parametrize("extra", [{}, {"full_page": "true"}, {"format": "jpeg"}],
                         ids=["viewport", "full_page", "jpeg"])
async def test_the_text_caret_is_hidden(client, extra):
    """A focused field's caret blinks, so two shots of one page would differ: it is hidden.
    (Several shots: the very first page a browser shows may not have the focus yet.)"""
    for _ in range(3):
        img = (await image(client, html=CARET, **extra)).convert("RGB")
        reds = sum(1 for r, g, b in img.get_flattened_data() if r > 200 and g < 80 and b < 80)
        assert reds == 0


async def test_html_base64_is_rendered(client):
    html = "<body style='margin:0;background:rgb(0,255,0)'></body>"
    encoded = base64.urlsafe_b64encode(html.encode()).decode().rstrip("=")
    img = await image(client, html_base64=encoded)
    assert near(rgb_at(img, 640, 400), GREEN)


async def test_html_has_no_file_access(client):
    html = (
        "<body style='margin:0'><img id=i src='file:///etc/hostname' "
        "onload=\"document.body.style.background='rgb(255,0,0)'\" "
        "onerror=\"document.body.style.background='rgb(0,255,0)'\"></body>"
    )
    img = await image(client, html=html, delay=200)
    assert near(rgb_at(img, 640, 400), GREEN)


async def test_post_json_matches_get(client, site: Site):
    url = site.url("/pages/basic")
    post = await client.post("/screenshot", json={"url": url, "width": 300, "height": 200,
                                                  "full_page": False})
    get = await client.get("/screenshot", params={"url": url, "width": "300", "height": "200",
                                                  "full_page": "false"})
    assert post.status_code == get.status_code == 200
    assert decode(post.content).size == decode(get.content).size == (300, 200)


# ---------------------------------------------------------------- viewport


async def test_width_and_height(client, site: Site):
    img = await image(client, url=site.url("/pages/basic"), width=500, height=300)
    assert img.size == (500, 300)


async def test_device_mobile_preset(client, site: Site):
    img = await image(client, url=site.url("/pages/touch"), device="mobile")
    assert img.size == (390 * 3, 844 * 3)
    assert near(rgb_at(img, 100, 100), GREEN)  # touch and a coarse pointer


async def test_device_tablet_preset(client, site: Site):
    img = await image(client, url=site.url("/pages/basic"), device="tablet")
    assert img.size == (768 * 2, 1024 * 2)


async def test_playwright_device_name(client, site: Site):
    img = await image(client, url=site.url("/pages/basic"), device="iPhone 15")
    assert img.size == (393 * 3, 659 * 3)


async def test_explicit_size_overrides_device(client, site: Site):
    img = await image(client, url=site.url("/pages/basic"), device="mobile", width=400, height=400)
    assert img.size == (1200, 1200)


async def test_device_scale_factor(client, site: Site):
    img = await image(client, url=site.url("/pages/basic"), device_scale_factor=2)
    assert img.size == (2560, 1600)
    assert near(rgb_at(img, 390, 190), RED)  # the 200x100 box is 400x200 device px


# ---------------------------------------------------------------- output


async def test_jpeg_and_jpg_alias(client, site: Site):
    for fmt in ("jpeg", "jpg"):
        response = await shot(client, url=site.url("/pages/basic"), format=fmt)
        assert response.headers["content-type"] == "image/jpeg"
        assert response.content[:3] == b"\xff\xd8\xff"


async def test_quality_changes_jpeg_size(client, site: Site):
    url = site.url("/pages/noise")
    low = await shot(client, url=url, format="jpeg", quality=5)
    high = await shot(client, url=url, format="jpeg", quality=95)
    assert len(low.content) < len(high.content) / 2


async def test_webp(client, site: Site):
    response = await shot(client, url=site.url("/pages/basic"), format="webp", quality=90)
    assert response.headers["content-type"] == "image/webp"
    assert response.content[:4] == b"RIFF" and response.content[8:12] == b"WEBP"
    img = decode(response.content)
    assert img.size == (1280, 800)
    assert near(rgb_at(img, 50, 50), RED, 20)


async def test_pdf_with_paper_options(client, site: Site):
    response = await shot(client, url=site.url("/pages/basic"), format="pdf")
    assert response.headers["content-type"] == "application/pdf"
    assert response.content[:5] == b"%PDF-"
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert abs(float(box.width) - 595) <= 2 and abs(float(box.height) - 842) <= 2  # A4 portrait

    landscape = await shot(client, url=site.url("/pages/basic"), format="pdf",
                           pdf_landscape="true", pdf_paper_format="letter")
    box = pypdf.PdfReader(io.BytesIO(landscape.content)).pages[0].mediabox
    assert abs(float(box.width) - 792) <= 2 and abs(float(box.height) - 612) <= 2


async def test_a_pdf_uses_the_media_type_asked_for(client, site: Site):
    """Print media unless screen is asked for, capture after capture (in page mode, on the same
    kept page, whose media is emulated through its own DevTools session)."""
    html = ("<!doctype html><style>@media print { p::after { content: 'PRINTMEDIA'; } }"
            "@media screen { p::after { content: 'SCREENMEDIA'; } }</style><p>x</p>")
    for n, media in enumerate(("screen", "print", "screen")):
        response = await shot(client, url=site.url(f"/serve?pdfmedia={n}&html=" + quote(html)),
                              format="pdf", media_type=media)
        text = pypdf.PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
        assert f"{media.upper()}MEDIA" in text, (media, text)


async def test_pdf_print_background(client, site: Site):
    def fills_red(data: bytes) -> bool:
        content = pypdf.PdfReader(io.BytesIO(data)).pages[0].get_contents().get_data()
        return b"1 0 0 rg" in content

    url = site.url("/pages/basic")
    plain = await shot(client, url=url, format="pdf")
    printed = await shot(client, url=url, format="pdf", pdf_print_background="true")
    assert not fills_red(plain.content)
    assert fills_red(printed.content)


async def test_pdf_defaults_to_print_media(client, site: Site):
    def fills(data: bytes, op: bytes) -> bool:
        return op in pypdf.PdfReader(io.BytesIO(data)).pages[0].get_contents().get_data()

    url = site.url("/pages/print")
    default = await shot(client, url=url, format="pdf", pdf_print_background="true")
    screen = await shot(client, url=url, format="pdf", pdf_print_background="true",
                        media_type="screen")
    assert fills(default.content, b"0 0 1 rg")  # @media print: blue
    assert fills(screen.content, b"1 0 0 rg")  # screen: red


async def test_download_sets_attachment(client, site: Site):
    response = await shot(client, url=site.url("/pages/basic"), download="true", format="webp")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert 'filename="127.0.0.1-pages-basic.webp"' in disposition
    inline = await shot(client, url=site.url("/pages/basic"))
    assert "content-disposition" not in inline.headers


# ---------------------------------------------------------------- area


async def test_full_page_loads_lazy_images(client, site: Site):
    url = site.url("/pages/tall-lazy")
    viewport = await image(client, url=url)
    assert viewport.size == (1280, 800)
    full = await image(client, url=url, full_page="true")
    assert full.size == (1280, 3000)
    assert near(rgb_at(full, 200, 2750), GREEN)  # the lazy image at y=2600..2900


async def test_full_page_height_is_capped(client, site: Site):
    response = await shot(client, url=site.url("/pages/very-tall"), full_page="true")
    assert response.headers["x-screenshot-truncated"] == "true"
    assert decode(response.content).size == (1280, 16384)
    short = await shot(client, url=site.url("/pages/tall-lazy"), full_page="true")
    assert "x-screenshot-truncated" not in short.headers


async def test_selector_gives_the_element(client, site: Site):
    img = await image(client, url=site.url("/pages/basic"), selector="#box")
    assert img.size == (200, 100)
    assert near(rgb_at(img, 100, 50), RED)


async def test_clip(client, site: Site):
    img = await image(client, url=site.url("/pages/basic"), clip_x=150, clip_y=50,
                      clip_width=100, clip_height=100)
    assert img.size == (100, 100)
    assert near(rgb_at(img, 10, 10), RED)  # inside the box (x 150..200, y 50..100)
    assert near(rgb_at(img, 90, 90), WHITE)


async def test_omit_background(client, site: Site):
    url = site.url("/pages/transparent")
    img = await image(client, url=url, omit_background="true")
    assert img.mode == "RGBA"
    assert img.getpixel((600, 400))[3] == 0
    assert img.getpixel((10, 10)) == (255, 0, 0, 255)
    webp = await image(client, url=url, omit_background="true", format="webp")
    assert webp.mode == "RGBA" and webp.getpixel((600, 400))[3] == 0
    opaque = await image(client, url=url)
    assert near(rgb_at(opaque, 600, 400), WHITE)


async def test_image_width_keeps_aspect(client, site: Site):
    img = await image(client, url=site.url("/pages/basic"), image_width=640)
    assert img.size == (640, 400)
    both = await image(client, url=site.url("/pages/basic"), image_width=300, image_height=300,
                       format="jpeg")
    assert both.size == (300, 300) and both.format == "JPEG"
    tall = await image(client, url=site.url("/pages/basic"), image_height=200)
    assert tall.size == (320, 200)


# ---------------------------------------------------------------- timing


async def test_wait_until_networkidle2_tolerates_open_requests(client, site: Site):
    url = site.url("/pages/networkidle2")
    idle2 = await image(client, url=url, wait_until="networkidle2")
    assert near(rgb_at(idle2, 640, 400), GREEN)
    # The hanging request never lets networkidle0 happen.
    strict = await client.get("/screenshot", params={"url": url, "wait_until": "networkidle0",
                                                     "timeout": 3000})
    assert strict.status_code == 408


async def test_wait_until_domcontentloaded(client, site: Site):
    img = await image(client, url=site.url("/pages/basic"), wait_until="domcontentloaded")
    assert near(rgb_at(img, 10, 10), RED)


async def test_wait_for_selector_and_wait_for(client, site: Site):
    url = site.url("/pages/late-element")
    for params in ({"wait_for_selector": "#late"}, {"wait_for": "#late"}):
        img = await image(client, url=url, **params)
        assert near(rgb_at(img, 100, 100), BLUE), params
    by_ms = await image(client, url=url, wait_for=1500)
    assert near(rgb_at(by_ms, 100, 100), BLUE)


# ---------------------------------------------------------------- emulation


async def test_dark_mode_and_theme(client, site: Site):
    url = site.url("/pages/dark")
    light = await image(client, url=url)
    dark = await image(client, url=url, dark_mode="true")
    themed = await image(client, url=url, theme="dark")
    assert near(rgb_at(light, 640, 400), WHITE)
    assert near(rgb_at(dark, 640, 400), BLACK)
    assert near(rgb_at(themed, 640, 400), BLACK)


async def test_locale_sets_language_and_accept_language(client, site: Site):
    url = site.url("/pages/locale")
    assert near(rgb_at(await image(client, url=url, locale="de-DE"), 10, 10), GREEN)
    echo = site.url("/echo?header=Accept-Language:de-DE")
    assert near(rgb_at(await image(client, url=echo, locale="de-DE"), 10, 10), GREEN)


async def test_geolocation(client, site: Site):
    img = await image(client, url=site.url("/pages/geo"), geolocation_latitude=48.8584,
                      geolocation_longitude=2.2945, delay=300)
    assert near(rgb_at(img, 10, 10), GREEN)


# ---------------------------------------------------------------- injection


async def test_headers(client, site: Site):
    url = site.url("/echo?header=X-Test:yes")
    assert near(rgb_at(await image(client, url=url), 10, 10), RED)
    img = await image(client, url=url, headers=json.dumps({"X-Test": "yes"}))
    assert near(rgb_at(img, 10, 10), GREEN)


async def test_cookies(client, site: Site):
    url = site.url("/echo?cookie=session=abc")
    cookies = json.dumps([{"name": "session", "value": "abc", "domain": "127.0.0.1"}])
    assert near(rgb_at(await image(client, url=url), 10, 10), RED)
    assert near(rgb_at(await image(client, url=url, cookies=cookies), 10, 10), GREEN)
    by_url = [{"name": "session", "value": "abc", "url": site.base}]
    post = await client.post("/screenshot", json={"url": url, "cookies": by_url})
    assert near(rgb_at(decode(post.content), 10, 10), GREEN)


async def test_cookies_do_not_leak_between_captures(client, site: Site):
    url = site.url("/echo?cookie=session=abc")
    cookies = json.dumps([{"name": "session", "value": "abc", "domain": "127.0.0.1"}])
    await shot(client, url=url, cookies=cookies)
    after = await image(client, url=url)
    assert near(rgb_at(after, 10, 10), RED)


async def test_styles_and_css_alias(client, site: Site):
    url = site.url("/pages/basic")
    for name in ("styles", "css"):
        img = await image(client, url=url, **{name: "body { background: rgb(0,0,255) !important }"})
        assert near(rgb_at(img, 640, 400), BLUE), name


async def test_styles_apply_under_a_strict_csp(client, site: Site):
    img = await image(client, url=site.url("/pages/csp"), hide_selectors="#box")
    assert near(rgb_at(img, 10, 10), WHITE)


async def test_scripts_and_js_alias(client, site: Site):
    url = site.url("/pages/basic")
    for name in ("scripts", "js"):
        script = "document.body.style.background = 'rgb(0,255,0)';"
        img = await image(client, url=url, **{name: script})
        assert near(rgb_at(img, 640, 400), GREEN), name


async def test_hide_selectors(client, site: Site):
    url = site.url("/pages/basic")
    assert near(rgb_at(await image(client, url=url), 10, 10), RED)
    img = await image(client, url=url, hide_selectors="#box, p")
    assert near(rgb_at(img, 10, 10), WHITE)


async def test_click(client, site: Site):
    url = site.url("/pages/click")
    img = await image(client, url=url, click="#go")
    assert near(rgb_at(img, 640, 400), BLUE)


async def test_anti_flicker_snippets_do_not_blank_the_capture(client, site: Site):
    img = await image(client, url=site.url("/pages/anti-flicker"))
    assert near(rgb_at(img, 10, 10), RED)


# ---------------------------------------------------------------- response types


async def test_response_type_base64(client, site: Site):
    response = await shot(client, url=site.url("/pages/basic"), response_type="base64")
    body = response.json()
    assert set(body) >= {"url", "format", "content_type", "width", "height", "size",
                         "render_time_ms", "cached", "cache_key", "image_url", "data"}
    data = base64.b64decode(body["data"])
    assert len(data) == body["size"]
    img = decode(data)
    assert img.size == (body["width"], body["height"]) == (1280, 800)
    assert body["format"] == "png" and body["content_type"] == "image/png"
    assert body["cached"] is False and len(body["cache_key"]) == 64


async def test_response_type_json_has_no_data(client, site: Site):
    response = await shot(client, url=site.url("/pages/basic"), response_type="json",
                          format="jpeg", width=640, height=480)
    body = response.json()
    assert "data" not in body
    assert (body["width"], body["height"], body["format"]) == (640, 480, "jpeg")
    assert body["size"] > 0 and body["render_time_ms"] > 0
    assert int(response.headers["x-render-time-ms"]) == body["render_time_ms"]


@pytest.mark.filterwarnings("ignore::pytest.PytestWarning")
def test_every_test_page_is_used():
    here = __file__
    source = "".join(open(here.replace("test_parameters", name)).read()
                     for name in ("test_parameters", "test_errors", "test_pool", "test_cache",
                                  "test_diff"))
    unused = [name for name in PAGES
              if f"/pages/{name}" not in source and f'("{name}",' not in source]
    assert not unused, unused


async def test_large_base64_response_is_complete(client, site: Site):
    """A full-page capture over the inline limit is encoded in a thread; the JSON is whole."""
    response = await shot(client, url=site.url("/pages/very-tall"), full_page="true",
                          response_type="base64")
    body = response.json()
    data = base64.b64decode(body["data"])
    assert body["size"] == len(data) > 256 * 1024
    assert decode(data).size == (1280, 16384) and body["truncated"] is True
