"""extract_content, metadata, actions, redact and local_storage against real Chromium, through
sync captures, jobs and batch."""

from __future__ import annotations

import asyncio
import base64
import json
from urllib.parse import quote

import pytest
from PIL import ImageStat

from tests.support.checks import assert_error, decode
from tests.support.pages import page
from tests.support.servers import Running
from tests.support.site import Site

pytestmark = pytest.mark.asyncio

GREEN = (0, 255, 0)
RED = (255, 0, 0)

ARTICLE = page(
    '<nav><a href="/home">Home</a> <a href="/about">About</a></nav>'
    "<header><p>Site header text</p></header>"
    "<main><article><h1>The headline</h1>"
    "<p>First paragraph of the story, long enough to be the main text of the page. "
    'It links <a href="/other/page">somewhere relative</a> and shows '
    '<img src="pics/photo.png" alt="a photo">.</p>'
    "<p>Second paragraph with <em>emphasis</em> and <strong>weight</strong>, and more words "
    "so that the article clearly holds the page's text.</p>"
    '<p class="secret">Card 4111 1111 1111 1111</p>'
    "<script>var hidden = 'SCRIPT TEXT';</script><style>.x{color:red}</style>"
    "</article></main>"
    "<aside>Related: nothing</aside><footer>Footer text</footer>",
    '<title>The headline - Example Site</title>'
    '<meta name="description" content="What the story is about.">'
    '<meta property="og:title" content="The headline">'
    '<meta property="og:description" content="OG description">'
    '<meta property="og:image" content="/img/cover.png">'
    '<link rel="canonical" href="https://example.org/story">'
    '<link rel="icon" href="/static/icon.png">'
).replace("<html>", '<html lang="en-GB">')


def url_of(site: Site, html: str) -> str:
    return site.url("/serve?html=" + quote(html))


async def json_shot(server: Running, **params: object) -> dict:
    response = await server.client.get("/screenshot", params={
        "response_type": "json", "cache": "false", **params})
    assert response.status_code == 200, response.text
    return response.json()


async def image_shot(server: Running, **params: object):
    response = await server.client.get("/screenshot", params={"cache": "false", **params})
    assert response.status_code == 200, response.text
    return decode(response.content).convert("RGB")


# --------------------------------------------------------------------------- content, metadata


async def test_markdown_is_the_main_content_with_absolute_links(server: Running, site: Site):
    url = url_of(site, ARTICLE)
    body = await json_shot(server, url=url, extract_content="true")
    content = body["content"]
    assert content.startswith("# The headline")
    assert "*emphasis*" in content and "**weight**" in content
    assert f"[somewhere relative]({site.base}/other/page)" in content
    assert f"![a photo]({site.base}/pics/photo.png)" in content
    for furniture in ("Home", "Site header text", "Related: nothing", "Footer text",
                      "SCRIPT TEXT", "color:red"):
        assert furniture not in content
    assert "metadata" not in body


async def test_html_and_text_formats(server: Running, site: Site):
    url = url_of(site, ARTICLE)
    html = (await json_shot(server, url=url, extract_content="true",
                            content_format="html"))["content"]
    assert html.startswith("<article>") and "<h1>The headline</h1>" in html
    assert f'href="{site.base}/other/page"' in html and "<script" not in html
    text = (await json_shot(server, url=url, extract_content="true",
                            content_format="text"))["content"]
    assert text.splitlines()[0] == "The headline"
    assert "<" not in text and "Footer text" not in text


async def test_metadata(server: Running, site: Site):
    body = await json_shot(server, url=url_of(site, ARTICLE), metadata="true")
    assert body["metadata"] == {
        "title": "The headline",
        "description": "What the story is about.",
        "og_title": "The headline",
        "og_description": "OG description",
        "og_image": f"{site.base}/img/cover.png",
        "favicon": f"{site.base}/static/icon.png",
        "canonical": "https://example.org/story",
        "lang": "en-GB",
        "http_status": 200,
    }


async def test_metadata_falls_back_to_favicon_ico_and_reports_the_status(
        server: Running, site: Site):
    body = await json_shot(server, url=site.url("/status?code=404"), metadata="true")
    assert body["metadata"]["favicon"] == f"{site.base}/favicon.ico"
    assert body["metadata"]["http_status"] == 404


async def test_content_and_metadata_in_base64_and_from_the_cache(server: Running, site: Site):
    params = {"url": url_of(site, ARTICLE), "extract_content": "true", "metadata": "true",
              "response_type": "base64"}
    first = (await server.client.get("/screenshot", params=params)).json()
    second = (await server.client.get("/screenshot", params=params)).json()
    assert second["cached"] is True
    assert second["content"] == first["content"] and second["metadata"] == first["metadata"]
    assert decode(base64.b64decode(second["data"])).size == (1280, 800)


async def test_consent_banners_are_left_out_of_the_content(server: Running, site: Site):
    html = ARTICLE.replace("</main>", '</main><div id="onetrust-consent-sdk"><p>We value your '
                           "privacy and use cookies everywhere on this site.</p></div>")
    content = (await json_shot(server, url=url_of(site, html), extract_content="true"))["content"]
    assert "We value your privacy" not in content


async def test_jobs_fill_their_content_and_metadata_outputs(server: Running, site: Site):
    submitted = (await server.client.post("/screenshot", json={
        "url": url_of(site, ARTICLE), "async": True, "extract_content": True,
        "content_format": "html", "metadata": True, "cache": False})).json()
    job_url = f"/jobs/{submitted['job_id']}"
    for _ in range(300):
        job = (await server.client.get(job_url)).json()
        if job["status"] not in ("queued", "processing"):
            break
        await asyncio.sleep(0.1)
    assert job["status"] == "completed", job
    assert job["outputs"]["html"]["result_url"].endswith("/result/html")
    content = await server.client.get(f"{job_url}/result/content")
    assert content.headers["content-type"] == "text/html; charset=utf-8"
    assert "sandbox" in content.headers["content-security-policy"]
    assert "<h1>The headline</h1>" in content.text
    metadata = (await server.client.get(f"{job_url}/result/metadata")).json()
    assert metadata["title"] == "The headline"


async def test_a_job_that_did_not_ask_has_no_content_output(server: Running, site: Site):
    submitted = (await server.client.get("/screenshot", params={
        "url": site.url("/pages/basic"), "async": "true"})).json()
    job_url = f"/jobs/{submitted['job_id']}"
    for _ in range(300):
        if (await server.client.get(job_url)).json()["status"] == "completed":
            break
        await asyncio.sleep(0.1)
    missing = await server.client.get(f"{job_url}/result/content")
    assert_error(missing, 404, "NOT_FOUND")
    assert "extract_content=true" in missing.json()["message"]


async def test_batch_items_carry_content_and_metadata(server: Running, site: Site):
    response = await server.client.post("/batch", json={
        "urls": [url_of(site, ARTICLE), site.url("/pages/basic")],
        "metadata": True, "extract_content": True, "content_format": "text"})
    results = response.json()["results"]
    assert results[0]["metadata"]["title"] == "The headline"
    assert results[0]["content"].startswith("The headline")
    assert results[1]["ok"] and "metadata" in results[1]


# --------------------------------------------------------------------------- actions

ACTIONS = page(
    '<div id="late-slot"></div>'
    '<button id="go" style="position:absolute;left:0;top:0;width:100px;height:100px" '
    "onclick=\"document.getElementById('clicked').style.background='rgb(0,255,0)'\">go</button>"
    '<div id="clicked" style="position:absolute;left:100px;top:0;width:100px;height:100px;'
    'background:rgb(255,0,0)"></div>'
    '<input id="name" style="position:absolute;left:0;top:120px;width:100px" '
    "oninput=\"document.getElementById('typed').style.background = this.value === 'hello' "
    "? 'rgb(0,255,0)' : 'rgb(255,0,0)'\">"
    '<div id="typed" style="position:absolute;left:200px;top:100px;width:100px;height:100px;'
    'background:rgb(255,0,0)"></div>'
    '<div id="hover" style="position:absolute;left:300px;top:0;width:100px;height:100px"></div>'
    '<div id="pressed" style="position:absolute;left:400px;top:0;width:100px;height:100px;'
    'background:rgb(255,0,0)"></div>'
    '<div id="waited" style="position:absolute;left:500px;top:0;width:100px;height:100px;'
    'background:rgb(255,0,0)"></div>'
    '<div style="position:absolute;left:0;top:3000px;width:1280px;height:800px;'
    'background:rgb(0,0,255)" id="far"></div>',
    "<style>#hover{background:rgb(255,0,0)}#hover:hover{background:rgb(0,255,0)}</style>"
    "<script>"
    "document.addEventListener('keydown', e => { if (e.key === 'Enter') "
    "document.getElementById('pressed').style.background = 'rgb(0,255,0)'; });"
    "window.addEventListener('load', () => {"
    " setTimeout(() => { const d = document.createElement('div'); d.id = 'late';"
    " document.getElementById('late-slot').appendChild(d); d.textContent = 'late'; }, 300);"
    " setTimeout(() => { document.getElementById('waited').style.background = 'rgb(0,255,0)'; },"
    " 400); });"
    "</script>",
)


async def test_every_action_type(server: Running, site: Site):
    actions = [
        {"type": "wait_for_selector", "selector": "#late", "timeout": 5000},
        {"type": "click", "selector": "#go"},
        {"type": "type", "selector": "#name", "text": "hello"},
        {"type": "press", "key": "Enter"},
        {"type": "wait", "ms": 300},
        {"type": "hover", "selector": "#hover"},
    ]
    image = await image_shot(server, url=url_of(site, ACTIONS), actions=json.dumps(actions))
    assert image.getpixel((150, 50)) == GREEN  # click
    assert image.getpixel((250, 150)) == GREEN  # type
    assert image.getpixel((350, 50)) == GREEN  # hover
    assert image.getpixel((450, 50)) == GREEN  # press
    assert image.getpixel((550, 50)) == GREEN  # wait


async def test_scroll_actions(server: Running, site: Site):
    by_y = await image_shot(server, url=url_of(site, ACTIONS),
                            actions=json.dumps([{"type": "scroll", "y": 3000}]))
    assert by_y.getpixel((640, 400)) == (0, 0, 255)
    by_selector = await image_shot(server, url=url_of(site, ACTIONS),
                                   actions=json.dumps([{"type": "scroll", "selector": "#far"}]))
    assert by_selector.getpixel((640, 400)) == (0, 0, 255)


async def test_without_actions_nothing_happens(server: Running, site: Site):
    image = await image_shot(server, url=url_of(site, ACTIONS))
    assert image.getpixel((150, 50)) == RED and image.getpixel((450, 50)) == RED


async def test_a_missing_selector_names_the_step(server: Running, site: Site):
    actions = [{"type": "click", "selector": "#go"},
               {"type": "click", "selector": "#nowhere", "timeout": 500}]
    response = await server.client.get("/screenshot", params={
        "url": url_of(site, ACTIONS), "actions": json.dumps(actions)})
    body = assert_error(response, 422, "SELECTOR_NOT_FOUND")
    assert body["field"] == "actions"
    assert "actions[1] (click '#nowhere')" in body["message"]


async def test_bad_actions_are_400s_before_any_browser_work(server: Running, site: Site):
    for actions, words in (
        ([{"type": "click"}], "actions[0]: a click step needs selector"),
        ([{"type": "fly"}], "actions[0].type"),
        ([{"type": "wait", "ms": 20000}], "actions[0].ms"),
        ([{"type": "wait", "ms": 1}] * 21, "actions"),
    ):
        response = await server.client.get("/screenshot", params={
            "url": site.url("/pages/basic"), "actions": json.dumps(actions)})
        body = assert_error(response, 400, "VALIDATION_ERROR")
        assert words in body["message"] and body["field"] == "actions"
    response = await server.client.get("/screenshot", params={
        "url": site.url("/pages/basic"), "cache": "false",
        "actions": json.dumps([{"type": "press", "key": "NoSuchKey"}])})
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert "actions[0] (press 'NoSuchKey')" in body["message"]


async def test_actions_share_the_request_timeout(server: Running, site: Site):
    actions = [{"type": "wait_for_selector", "selector": "#never", "timeout": 60000}]
    started = asyncio.get_running_loop().time()
    response = await server.client.get("/screenshot", params={
        "url": url_of(site, ACTIONS), "actions": json.dumps(actions), "timeout": 2000})
    assert_error(response, 408, "TIMEOUT")
    assert asyncio.get_running_loop().time() - started < 10


# --------------------------------------------------------------------------- redact

STRIPES = page(
    '<div id="secret" style="position:absolute;left:100px;top:100px;width:300px;height:200px;'
    'background:repeating-linear-gradient(90deg,#fff 0 10px,#000 10px 20px)"></div>'
    '<p class="pii" style="position:absolute;left:500px;top:100px;font-size:40px">alice@x.org</p>'
    '<p class="pii" style="position:absolute;left:500px;top:300px;font-size:40px">bob@x.org</p>'
)


def region(image, box):
    return image.crop(box)


async def test_redact_block_paints_every_match_solid(server: Running, site: Site):
    image = await image_shot(server, url=url_of(site, STRIPES), redact="#secret,.pii")
    for box in ((100, 100, 400, 300), (510, 150, 650, 175), (510, 350, 630, 375)):
        colours = region(image, box).getcolors()
        assert colours is not None and len(colours) == 1 and colours[0][1] == (0, 0, 0), box


async def test_redact_blur_smooths_the_element(server: Running, site: Site):
    plain = await image_shot(server, url=url_of(site, STRIPES))
    blurred = await image_shot(server, url=url_of(site, STRIPES), redact="#secret",
                               redact_mode="blur")
    inner = (150, 150, 350, 250)
    before = ImageStat.Stat(region(plain, inner).convert("L")).stddev[0]
    after = ImageStat.Stat(region(blurred, inner).convert("L")).stddev[0]
    assert before > 100 and after < before / 4  # stripes of black and white, then grey
    untouched = (500, 80, 900, 200)  # the .pii text, not redacted this time
    assert region(blurred, untouched).tobytes() == region(plain, untouched).tobytes()


async def test_redacted_text_is_left_out_of_the_content(server: Running, site: Site):
    body = await json_shot(server, url=url_of(site, ARTICLE), redact=".secret",
                           extract_content="true")
    assert "4111" not in body["content"] and "The headline" in body["content"]


async def test_an_invalid_redact_selector_is_a_400(server: Running, site: Site):
    response = await server.client.get("/screenshot", params={
        "url": site.url("/pages/basic"), "redact": "##bad((", "cache": "false"})
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert body["field"] == "redact"


# --------------------------------------------------------------------------- local_storage

STORAGE = page("<script>document.body.style.background = localStorage.getItem('plan') === 'pro'"
               " && localStorage.getItem('seen') === '1' ? 'rgb(0,255,0)' : 'rgb(255,0,0)';"
               "</script>")


@pytest.mark.parametrize("value", [
    '{"plan": "pro", "seen": "1"}',
    '[{"key": "plan", "value": "pro"}, {"key": "seen", "value": "1"}]',
])
async def test_local_storage_is_set_before_the_page_scripts_run(
        server: Running, site: Site, value: str):
    image = await image_shot(server, url=url_of(site, STORAGE), local_storage=value)
    assert image.getpixel((10, 10)) == GREEN


async def test_without_local_storage_the_page_sees_none(server: Running, site: Site):
    image = await image_shot(server, url=url_of(site, STORAGE))
    assert image.getpixel((10, 10)) == RED


async def test_local_storage_bounds(server: Running, site: Site):
    too_many = json.dumps({f"k{i}": "v" for i in range(51)})
    response = await server.client.get("/screenshot", params={
        "url": site.url("/pages/basic"), "local_storage": too_many})
    assert assert_error(response, 400, "VALIDATION_ERROR")["field"] == "local_storage"
    response = await server.client.get("/screenshot", params={
        "html": "<p>x</p>", "local_storage": '{"a": "b"}'})
    assert "needs url" in assert_error(response, 400, "VALIDATION_ERROR")["message"]
