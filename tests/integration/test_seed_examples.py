"""The seed APIs' own examples (``tests/fixtures/seeds``), run as their documents write them
against a real ``screenshotd serve``: the curl commands with bash, the Python with ``requests``,
the JavaScript with Node.js (and ``EventSource`` in real Chromium). Only the hosts, the keys,
the placeholders of ids and the pages change (:func:`localize`); every answer is compared with
the document's response field by field (:func:`assert_like`), and every image behind a link is
opened the way the document says (with the key, or with nothing) and checked: an element shot is
that element, a full page is its full height.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from screenshotd.auth.accounts import toml_entry
from tests.support import children
from tests.support.browsers import watched_page
from tests.support.checks import decode, near, rgb_at
from tests.support.pages import solid_png
from tests.support.servers import ServeProcess, WebhookReceiver, serve_process

SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "seeds"
KEY = "seed-examples-key-0123456789"
OTHER_KEY = "seed-examples-other-key-98765"
SECRET = "your-webhook-secret"

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 128, 0), (0, 0, 255), (255, 255, 0)

#: The pages the examples point at (``https://example.com`` and the others), served here.
PAGES: dict[str, str] = {
    # 000's element shot: #pricing-table is grey until .pricing-loaded appears (300 ms), then
    # red, or blue in dark mode; the .cookie-banner over its top is yellow unless hidden.
    "/": """<!doctype html><html><head><title>Example Domain</title><style>
body{margin:0;background:#fff}
#pricing-table{position:relative;width:300px;height:200px;background:rgb(136,136,136)}
#pricing-table.ready{background:rgb(255,0,0)}
@media (prefers-color-scheme: dark){#pricing-table.ready{background:rgb(0,0,255)}}
.cookie-banner{position:absolute;left:0;top:0;width:300px;height:40px;background:rgb(255,255,0)}
#rest{height:2200px;background:rgb(0,128,0)}
</style></head><body><h1 style="position:absolute;left:400px;top:0">Example Domain</h1>
<div id="pricing-table"><div class="cookie-banner"></div></div><div id="rest"></div>
<script>setTimeout(() => {
  document.getElementById('pricing-table').classList.add('ready');
  const done = document.createElement('div'); done.className = 'pricing-loaded';
  done.style.cssText = 'position:absolute;right:0;bottom:0;width:2px;height:2px';
  document.getElementById('pricing-table').appendChild(done);
}, 300)</script></body></html>""",
    # 004's dashboard: [data-ready] after 200 ms; #reports-tab turns green when clicked;
    # .billing-info is red unless redacted; #ws is blue when localStorage says acme.
    "/dashboard": """<!doctype html><html><head><style>
body{margin:0;background:#fff} div{width:200px;height:100px}
#reports-tab{background:rgb(136,136,136)} #reports-tab.open{background:rgb(0,128,0)}
.billing-info{background:rgb(255,0,0);color:rgb(255,0,0)} #ws{background:#fff}
#ws.acme{background:rgb(0,0,255)} #rest{height:2700px;width:10px}
</style></head><body><div id="reports-tab" onclick="this.classList.add('open')"></div>
<div class="billing-info">4242 4242</div><div id="ws"></div><div id="rest"></div>
<script>
if (localStorage.getItem('workspace_id') === 'acme') document.getElementById('ws').classList.add('acme');
setTimeout(() => document.body.setAttribute('data-ready', '1'), 200);
</script></body></html>""",
}
for _name, _colour in (("/stripe", "rgb(255,0,0)"), ("/github", "rgb(0,128,0)"),
                       ("/vercel", "rgb(0,0,255)")):
    PAGES[_name] = (f"<!doctype html><html><body style='margin:0;background:{_colour}'>"
                    f"<div style='height:1500px'></div></body></html>")


class ExampleSite:
    """The pages above on a free port; every request's path and headers are recorded."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                site.requests.append((path, {k.lower(): v for k, v in self.headers.items()}))
                if path == "/logo.png":
                    body, kind = solid_png(64, 64, (255, 255, 255)), "image/png"
                elif path in PAGES:
                    body, kind = PAGES[path].encode(), "text/html; charset=utf-8"
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Seeds:
    """The running server, its pages and its webhook receiver; runs the examples."""

    def __init__(self, server: ServeProcess, site: ExampleSite, receiver: WebhookReceiver,
                 workdir: Path) -> None:
        self.server = server
        self.base = server.base
        self.site = site
        self.receiver = receiver
        self.workdir = workdir
        self.http = httpx.Client(timeout=60)

    def localize(self, text: str, **ids: str) -> str:
        """The example with this machine's hosts, key, pages and ids: nothing else changes."""
        for host in ("https://goscreenapi.com", "https://api.allscreenshots.com",
                     "https://sessionshot.com"):
            text = text.replace(host, self.base)
        # 001's document gives its paths without a host.
        text = text.replace('"/api/screenshot/capture', f'"{self.base}/api/screenshot/capture')
        text = text.replace(" /api/screenshot/capture", f" {self.base}/api/screenshot/capture")
        for placeholder in ("{{ $displayKey }}", "YOUR_API_KEY", "YOUR_KEY", "your-api-key"):
            text = text.replace(placeholder, KEY)
        text = text.replace("https://your-server.com/webhooks/screenshot",
                            self.receiver.url("/webhooks/screenshot"))
        text = text.replace("https://yourapp.com/batch-done", self.receiver.url("/batch-done"))
        text = text.replace("https://yoursite.com/logo.png", f"{self.site.base}/logo.png")
        for name in ("stripe", "github", "vercel"):
            text = text.replace(f"https://{name}.com", f"{self.site.base}/{name}")
        text = text.replace("https://example.com", self.site.base)
        for placeholder, value in ids.items():
            text = text.replace(placeholder, value)
        return text

    def run(self, name: str, *, before: str = "", after: str = "", **ids: str) -> str:
        """Run one example (``before``/``after``: what a program around a snippet adds, such
        as the ``API_KEY`` it assumes); its standard output."""
        source = before + self.localize((SEEDS / name).read_text(), **ids) + after
        suffix = Path(name).suffix
        script = self.workdir / f"example{suffix}"
        script.write_text(source)
        command = {".sh": ["bash", str(script)], ".py": [sys.executable, str(script)],
                   ".mjs": [node(), str(script)]}[suffix]
        done = children.run(command, capture_output=True, text=True, timeout=120,
                            cwd=self.workdir)
        assert done.returncode == 0, f"{name}:\n{source}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def json(self, name: str, **ids: str) -> Any:
        return json.loads(self.run(name, **ids))

    def get(self, url: str, key: str | None = KEY, **headers: str) -> httpx.Response:
        if key is not None:
            headers.setdefault("Authorization", f"Bearer {key}")
        return self.http.get(url, headers=headers)

    def until(self, url: str, done: Any, headers: dict[str, str]) -> Any:
        """Poll ``url`` until ``done(body)``; the body."""
        deadline = time.monotonic() + 60
        while True:
            body = self.http.get(url, headers=headers).json()
            if done(body):
                return body
            assert time.monotonic() < deadline, body
            time.sleep(0.2)


def node() -> str:
    found = shutil.which("node") or shutil.which("nodejs")
    assert found, "Node.js is needed to run the documents' JavaScript (make test installs it)"
    return found


def example(name: str) -> Any:
    return json.loads((SEEDS / name).read_text())


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", dict: "object", list: "array", type(None): "null"}[type(value)]


def assert_like(documented: Any, actual: Any, where: str = "", nullable: frozenset[str] = frozenset(),
                values: frozenset[str] = frozenset()) -> None:
    """Every field of the document's response is in ``actual``, of the same JSON type (or null
    or absent where ``nullable`` names it: a field the document gives "when available"), and
    equal where ``values`` names it."""
    if where in nullable and actual is None:
        return
    assert kind(actual) == kind(documented), f"{where or 'the body'}: {actual!r} is not like " \
                                             f"{documented!r}"
    if where in values:
        assert actual == documented, f"{where}: {actual!r} != {documented!r}"
    if isinstance(documented, dict):
        for name, value in documented.items():
            path = f"{where}.{name}" if where else name
            if path in nullable and name not in actual:
                continue
            assert name in actual, f"{path} is missing from {json.dumps(actual)[:400]}"
            assert_like(value, actual[name], path, nullable, values)
    elif isinstance(documented, list) and documented and actual:
        assert_like(documented[0], actual[0], f"{where}[0]", nullable, values)


def png(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("image/png"), response.headers
    return decode(response.content)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeds]:
    folder = tmp_path_factory.mktemp("seeds")
    keys = folder / "keys.toml"
    keys.write_text(toml_entry("acme", KEY, monthly_quota=250) + "\n"
                    + toml_entry("other", OTHER_KEY))
    site = ExampleSite()
    try:
        with WebhookReceiver() as receiver, serve_process({
                "API_KEYS_FILE": str(keys), "MAX_REQUESTS_PER_MINUTE": "0",
                "MAX_PENDING_JOBS": "20"}) as server:
            workdir = folder / "work"
            workdir.mkdir()
            yield Seeds(server, site, receiver, workdir)
    finally:
        site.close()


def bearer(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --------------------------------------------------------------------------- 000


def test_000_synchronous_examples_give_a_full_page_behind_an_open_link(seeds: Seeds):
    """The first example, in curl, JavaScript and Python: 200 with the documented fields, and
    an ``image_url`` that opens with no key: the whole page, 2400 px tall."""
    answer = seeds.json("000_sync.sh")
    assert_like(example("000_sync.json"), answer, values=frozenset({"status", "async"}))
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                        answer["request_id"])
    assert answer["quota"]["monthly_quota"] == 250
    for url in (answer["image_url"], seeds.run("000_sync.mjs").strip(),
                seeds.run("000_sync.py").strip()):
        image = png(seeds.get(url, key=None))
        assert image.size == (1280, 2400)
        assert rgb_at(image, 640, 2000) == GREEN


def test_000_advanced_examples_shoot_the_element_dark_after_it_loaded(seeds: Seeds):
    """selector, theme=dark, wait_for, css and headers: the image is the 300x200 table, blue
    (dark and loaded), without the banner the CSS hides; the page got the header."""
    seeds.site.requests.clear()
    for name in ("000_advanced.sh", "000_advanced.mjs", "000_advanced.py"):
        output = seeds.run(name).strip()
        url = json.loads(output)["image_url"] if name.endswith(".sh") else output
        image = png(seeds.get(url, key=None))
        assert image.size == (300, 200), name
        assert rgb_at(image, 150, 10) == BLUE and rgb_at(image, 150, 150) == BLUE, name
    assert any(headers.get("authorization") == "Bearer my_token"
               for path, headers in seeds.site.requests if path == "/")


def test_000_async_poll_stream_history_and_account(seeds: Seeds):
    """Async by default (202, poll_url), the poll, the SSE stream in a browser's EventSource,
    the history with paging, and /me: each as documented."""
    submitted = seeds.http.post(f"{seeds.base}/api/v1/screenshot", headers=bearer(), json={
        "url": seeds.site.base + "/", "selector": "#pricing-table"})
    assert submitted.status_code == 202
    assert_like(example("000_async.json"), submitted.json(),
                values=frozenset({"status", "async"}))
    request_id = submitted.json()["request_id"]
    assert submitted.json()["poll_url"] == f"{seeds.base}/api/v1/screenshot/{request_id}"

    def completed(body: dict[str, Any]) -> bool:
        return body["request"]["status"] in ("completed", "failed")

    seeds.until(submitted.json()["poll_url"], completed, bearer())
    polled = seeds.json("000_poll.sh", **{"{request_id}": request_id})
    assert_like(example("000_poll.json"), polled, values=frozenset({"status", "request.status"}))
    assert png(seeds.get(polled["request"]["image_url"], key=None)).size == (300, 200)

    logs = asyncio.run(event_source(seeds, request_id))
    assert logs[0][0] == "Connected" and logs[0][1]["request_id"] == request_id
    assert logs[-1][0] == "Done!" and "/links/" in logs[-1][1]

    history = seeds.json("000_history.sh")
    assert_like(example("000_history.json"), history,
                values=frozenset({"status", "data[0].status"}))
    assert history["meta"]["per_page"] == 10
    assert all(item["status"] == "completed" for item in history["data"])
    assert request_id in [item["id"] for item in history["data"]]

    me = seeds.json("000_me.sh")
    assert_like(example("000_me.json"), me, values=frozenset({"status"}),
                nullable=frozenset({"user.email", "user.plan", "user.wallet_balance"}))
    assert me["quota"]["monthly_quota"] == 250
    assert me["quota"]["monthly_used"] + me["quota"]["monthly_remaining"] == 250


async def event_source(seeds: Seeds, request_id: str) -> list[Any]:
    """The document's EventSource code, in real Chromium; what it logged."""
    code = seeds.localize((SEEDS / "000_stream.js").read_text(), **{"{id}": request_id})
    async with watched_page() as (page, _):
        await page.goto(seeds.site.base + "/stripe")
        return await page.evaluate(  # type: ignore[no-any-return]
            "new Promise((resolve) => { const logs = [];"
            " const console = {log: (...args) => logs.push(args)};"
            f"{code}\n"
            " es.addEventListener('completed', () => setTimeout(() => resolve(logs), 50));"
            " es.addEventListener('timeout', () => resolve(logs));"
            " setTimeout(() => resolve(logs), 20000); })")


def test_000_webhook_is_signed_as_documented(seeds: Seeds):
    """webhook_url and webhook_secret: the documented payload, with X-GSS-Signature the hex
    HMAC-SHA256 of the raw body."""
    hook = seeds.receiver.url("/gss")
    submitted = seeds.http.post(f"{seeds.base}/api/v1/screenshot", headers=bearer(), json={
        "url": seeds.site.base + "/github", "webhook_url": hook, "webhook_secret": SECRET})
    assert submitted.status_code == 202
    [sent] = asyncio.run(seeds.receiver.wait_for(1, "/gss"))
    expected = hmac.new(SECRET.encode(), sent.body, hashlib.sha256).hexdigest()
    assert sent.headers["x-gss-signature"] == expected
    body = json.loads(sent.body)
    assert_like(example("000_webhook.json"), body, values=frozenset({"status"}))
    assert body["request_id"] == submitted.json()["request_id"]
    assert rgb_at(png(seeds.get(body["image_url"], key=None)), 10, 10) == GREEN


def test_000_batch_diff_and_og_image(seeds: Seeds):
    """The batch (202, its status, the callback), the diff of two of its requests by their ids,
    and an OG image answered as JSON with a link to a 1200x630 image."""
    queued = seeds.json("000_batch.sh")
    assert_like(example("000_batch.json"), queued, values=frozenset({"status", "total_items"}))
    status = seeds.until(queued["poll_url"], lambda b: b["batch_status"] == "completed",
                         bearer())
    assert_like(example("000_batch_status.json"), status,
                values=frozenset({"status", "batch_status", "total_items", "completed_items",
                                  "failed_items", "items[0].status"}))
    [callback] = asyncio.run(seeds.receiver.wait_for(1, "/batch-done"))
    assert json.loads(callback.body)["batch_id"] == queued["batch_id"]
    items = {item["url"].rsplit("/", 1)[-1]: item for item in status["items"]}
    mobile = png(seeds.get(items["github"]["image_url"], key=None))
    assert mobile.size[0] == 390 * 3  # device: mobile
    assert png(seeds.get(items["vercel"]["image_url"], key=None)).size[1] == 1500  # full_page

    diff = seeds.json("000_diff.sh", **{"uuid-before": items["stripe"]["request_id"],
                                        "uuid-after": items["vercel"]["request_id"]})
    assert_like(example("000_diff.json"), diff, values=frozenset({"status", "threshold"}))
    assert diff["diff_percentage"] == 100 and diff["compared_size"] == "1280x800"
    encoded = diff["diff_image"].removeprefix("data:image/png;base64,")
    assert decode(base64.b64decode(encoded)).size == (1280, 1500)  # the larger of the two

    og = seeds.json("000_og.sh")
    assert_like(example("000_og.json"), og, values=frozenset({"status"}))
    image = png(seeds.get(og["image_url"], key=None))
    assert image.size == (1200, 630)
    assert near(rgb_at(image, 600, 600), (0x0F, 0x17, 0x2A))  # bg_color


# --------------------------------------------------------------------------- 001


def test_001_capture_flow_examples(seeds: Seeds):
    """Submit, poll and download in curl, then the Python of all three steps; callbackUrl."""
    submitted = seeds.json("001_submit.sh")
    assert_like(example("001_submit.json"), submitted,
                values=frozenset({"status", "data.state"}))
    capture_id = submitted["data"]["captureId"]
    assert re.fullmatch(r"cap_[0-9a-f]{32}", capture_id)
    url = f"{seeds.base}/api/screenshot/capture/{capture_id}"
    seeds.until(url, lambda b: b["data"]["state"] == "COMPLETED", {"X-API-KEY": KEY})
    polled = seeds.json("001_poll.sh", cap_7f3a1b2c4d5e=capture_id)
    assert_like(example("001_poll.json"), polled, values=frozenset({"status", "data.state"}))
    image = seeds.get(polled["data"]["imageUrl"], key=None, **{"X-API-KEY": KEY})
    assert image.headers["content-disposition"] == f'attachment; filename="{capture_id}.png"'
    assert png(image).size == (1280, 800) and polled["data"]["fileSize"] == len(image.content)
    assert seeds.get(polled["data"]["imageUrl"], key=None).status_code == 401  # key needed

    (seeds.workdir / "screenshot.png").unlink(missing_ok=True)
    seeds.run("001_download.sh", cap_7f3a1b2c4d5e=capture_id)
    assert decode((seeds.workdir / "screenshot.png").read_bytes()).size == (1280, 800)

    (seeds.workdir / "screenshot.png").unlink()
    output = seeds.run("001_flow.py")
    assert "State: COMPLETED" in output and re.search(r"Saved \d+ bytes", output), output
    assert rgb_at(decode((seeds.workdir / "screenshot.png").read_bytes()), 640, 700) == GREEN

    seeds.http.post(f"{seeds.base}/api/screenshot/capture", headers={"X-API-KEY": KEY}, json={
        "url": seeds.site.base + "/stripe", "callbackUrl": seeds.receiver.url("/capture-done")})
    [called] = asyncio.run(seeds.receiver.wait_for(1, "/capture-done"))
    body = json.loads(called.body)
    assert body["status"] == "OK" and body["data"]["state"] == "COMPLETED"


# --------------------------------------------------------------------------- 003


def test_003_async_job_examples(seeds: Seeds):
    """The async job in curl (its webhook received), its status, its result, the polling
    function and the webhook example of JavaScript (signed), and multi-output."""
    created = seeds.json("003_async.sh")
    assert_like(example("003_async.json"), created, values=frozenset({"status"}))
    job_id = created["id"]
    [hooked] = asyncio.run(seeds.receiver.wait_for(1, "/webhooks/screenshot"))
    sent = json.loads(hooked.body)
    assert sent["status"] == "COMPLETED" and sent["data"]["jobId"] == job_id
    assert sent["data"]["resultUrl"] == f"{seeds.base}/v1/screenshots/jobs/{job_id}/result"

    status = seeds.json("003_status.sh", abc123xyz0=job_id)
    assert_like(example("003_completed.json"), status,
                values=frozenset({"status"}),
                nullable=frozenset({"storageUrl"}))
    assert status["metadata"]["format"] == "PNG" and status["metadata"]["height"] == 2400
    (seeds.workdir / "screenshot.png").unlink(missing_ok=True)
    seeds.run("003_result.sh", job_abc123xyz=job_id)
    assert decode((seeds.workdir / "screenshot.png").read_bytes()).size == (1280, 2400)

    api_key = f"const API_KEY = '{KEY}';\n"
    seeds.run("003_webhook.mjs", before=api_key)
    arrived = asyncio.run(seeds.receiver.wait_for(2, "/webhooks/screenshot"))[1]
    signature = "sha256=" + hmac.new(b"your-webhook-secret", arrived.body,
                                     hashlib.sha256).hexdigest()
    assert arrived.headers["x-webhook-signature"] == signature
    job = json.loads(arrived.body)
    assert job["status"] == "COMPLETED" and job["data"]["resultUrl"]
    result_url = seeds.run("003_poll.mjs", before=api_key,
                           after=f"\nconsole.log(await waitForJob('{job['jobId']}'));").strip()
    assert png(seeds.get(result_url, key=None, **{"X-API-Key": KEY})).size == (1280, 800)

    multi = seeds.http.post(f"{seeds.base}/v1/screenshots/async", headers={"X-API-Key": KEY},
                            json={"url": seeds.site.base + "/", "outputs": ["screenshot",
                                                                           "markdown"]}).json()
    done = seeds.until(f"{seeds.base}/v1/screenshots/jobs/{multi['id']}",
                       lambda b: b["status"] == "COMPLETED", {"X-API-Key": KEY})
    assert_like(example("003_multi.json"), done, nullable=frozenset({
        "storageUrl", "outputs.screenshot.storageUrl", "outputs.markdown.storageUrl"}),
        values=frozenset({"status", "metadata.format", "outputs.screenshot.type",
                          "outputs.markdown.type"}))
    output = seeds.run("003_outputs.sh", job_abc123xyz=multi["id"])
    assert output.startswith("# Example Domain"), output[:200]
    assert decode((seeds.workdir / "screenshot.png").read_bytes()).size == (1280, 800)


def test_003_synchronous_base64_and_failed(seeds: Seeds):
    """/v1/screenshots answers the bytes; responseType base64 the documented JSON; a page that
    cannot load is FAILED with errorCode and errorMessage."""
    headers = {"X-API-Key": KEY}
    image = seeds.http.post(f"{seeds.base}/v1/screenshots", headers=headers,
                            json={"url": seeds.site.base + "/stripe", "fullPage": True})
    assert png(image).size == (1280, 1500)
    encoded = seeds.http.post(f"{seeds.base}/v1/screenshots/async", headers=headers, json={
        "url": seeds.site.base + "/vercel", "responseType": "base64"}).json()
    seeds.until(f"{seeds.base}/v1/screenshots/jobs/{encoded['id']}",
                lambda b: b["status"] == "COMPLETED", headers)
    result = seeds.http.get(f"{seeds.base}/v1/screenshots/jobs/{encoded['id']}/result",
                            headers=headers).json()
    assert_like(example("003_base64.json"), result,
                values=frozenset({"format", "contentType", "encoding"}))
    assert rgb_at(decode(base64.b64decode(result["data"])), 5, 5) == BLUE
    failed = seeds.http.post(f"{seeds.base}/v1/screenshots/async", headers=headers,
                             json={"url": "http://127.0.0.1:9/"}).json()
    body = seeds.until(f"{seeds.base}/v1/screenshots/jobs/{failed['id']}",
                       lambda b: b["status"] == "FAILED", headers)
    assert_like(example("003_failed.json"), body, values=frozenset({"status"}))
    assert body["errorCode"] == "NAVIGATION_FAILED"


# --------------------------------------------------------------------------- 004


def test_004_capture_examples(seeds: Seeds):
    """The nested body in curl: 202, then completed with a ten-minute signed link, minted again
    on each read, to the full page with its cookie, localStorage, actions and redaction; the
    TypeScript polling example; a failure in the document's shape."""
    answer = seeds.json("004_create.sh")
    assert_like(example("004_created.json"), answer, values=frozenset({"status"}))
    capture_id = answer["id"]
    assert re.fullmatch(r"cap_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                        capture_id)
    seeds.until(answer["statusUrl"], lambda b: b["status"] in ("completed", "failed"), bearer())
    read = seeds.json("004_status.sh", CAPTURE_ID=capture_id)
    assert_like(example("004_completed.json"), read,
                values=frozenset({"status", "result.format", "result.width"}))
    expires = read["result"]["expiresAt"]
    left = _seconds_until(expires)
    assert 590 <= left <= 601
    image = png(seeds.get(read["result"]["url"], key=None))
    assert image.size == (1280, 3000) and read["result"]["height"] == 3000
    assert rgb_at(image, 100, 50) == GREEN  # #reports-tab, clicked
    assert not near(rgb_at(image, 100, 150), RED)  # .billing-info, redacted
    assert rgb_at(image, 100, 250) == BLUE  # #ws: localStorage said acme
    time.sleep(1.1)
    again = seeds.json("004_status.sh", CAPTURE_ID=capture_id)
    assert again["result"]["url"] != read["result"]["url"]
    assert again["result"]["expiresAt"] > expires

    output = seeds.run("004_capture.mjs").split()
    assert output[0] == "completed" and png(seeds.get(output[1], key=None)).size == (1280, 800)

    failed = seeds.http.post(f"{seeds.base}/api/captures", headers=bearer(),
                             json={"url": "http://127.0.0.1:9/"}).json()
    body = seeds.until(f"{seeds.base}/api/captures/{failed['id']}",
                       lambda b: b["status"] == "failed", bearer())
    assert_like(example("004_failed.json"), body, values=frozenset({"status"}))
    # another key's capture does not exist for it
    stranger = seeds.http.get(f"{seeds.base}/api/captures/{capture_id}", headers=bearer(OTHER_KEY))
    assert stranger.status_code == 404 and stranger.json()["error"]["code"] == "NOT_FOUND"


def _seconds_until(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() - time.time()
