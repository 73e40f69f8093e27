"""Shared fixtures: a local test site, and screenshotd servers running in the test loop.

Integration tests are real: Chromium renders pages that :class:`Site` serves on 127.0.0.1,
through a real uvicorn serving :func:`screenshotd.http.app.create_app`. Nothing is skipped when
Chromium is missing; the pool fails to start and the tests fail loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from PIL import Image

from screenshotd.http.app import create_app
from screenshotd.net.egress import Resolver
from screenshotd.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
def _find_corpus() -> Path:
    """The shared corpus: ``SCREENSHOTD_CORPUS``, else ``../shared`` beside this checkout, else
    beside the checkout this one was cloned from (a CI clone in a temporary directory)."""
    if os.environ.get("SCREENSHOTD_CORPUS"):
        return Path(os.environ["SCREENSHOTD_CORPUS"])
    tail = Path("shared", "corpus", "readability")
    candidates = [ROOT.parent / tail]
    try:
        origin = subprocess.run(["git", "-C", str(ROOT), "config", "--get", "remote.origin.url"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        origin = ""
    if origin and "://" not in origin and not origin.startswith("git@"):
        candidates.append(Path(origin).resolve().parent / tail)  # a clone of a local checkout
    return next((c for c in candidates if c.is_dir()), candidates[0])


CORPUS = _find_corpus()
#: pixelmatch's own test images and expected counts (shared/fixtures/pixelmatch).
PIXELMATCH_FIXTURES = CORPUS.parents[1] / "fixtures" / "pixelmatch"

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A tiny solid PNG, written by hand so the test site needs nothing but the stdlib."""
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def page(body: str, head: str = "") -> str:
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        "<style>html,body{margin:0;padding:0;background:#fff}body{min-height:100vh}</style>"
        f"{head}</head><body>{body}</body></html>"
    )


#: A red 200x100 box at the top left of a white page.
BOX = '<div id="box" style="width:200px;height:100px;background:rgb(255,0,0)"></div>'

# Pages whose colour tells whether a condition held: green when it did, red when not.
def condition_page(js_condition: str, delay_ms: int = 0) -> str:
    script = (
        f"const paint = () => {{ document.body.style.background = ({js_condition}) "
        "? 'rgb(0,255,0)' : 'rgb(255,0,0)'; document.body.dataset.done = '1'; };"
    )
    script += f"setTimeout(paint, {delay_ms});" if delay_ms else "paint();"
    return page(f"<script>{script}</script>")


#: Deterministic noise in a square canvas, ``?px=`` on a side (default 174): a viewport PNG of
#: about 100 KB, for the cache benchmarks.
NOISE = page(
    '<canvas id="c"></canvas><script>'
    "const px = +(new URLSearchParams(location.search).get('px') || 174);"
    "const el = document.getElementById('c'); el.width = el.height = px;"
    "const c = el.getContext('2d'); const img = c.createImageData(px, px); let x = 12345;"
    "for (let i = 0; i < img.data.length; i++) {"
    "  x = (x * 1103515245 + 12345) % 2147483648;"
    "  img.data[i] = (i % 4 === 3) ? 255 : (x >> 16) & 255; }"
    "c.putImageData(img, 0, 0);</script>"
)

#: Two pages for the diff: the same red box, and the second adds a 50x50 blue box at (400, 300).
DIFF_BEFORE = page('<div style="position:absolute;left:0;top:0;width:200px;height:100px;'
                   'background:rgb(255,0,0)"></div>')
DIFF_AFTER = DIFF_BEFORE.replace(
    "</body>", '<div style="position:absolute;left:400px;top:300px;width:50px;height:50px;'
    'background:rgb(0,0,255)"></div></body>')

PAGES: dict[str, str] = {
    "diff-before": DIFF_BEFORE,
    "diff-after": DIFF_AFTER,
    "noise-box": NOISE,
    "basic": page(BOX + "<p>hello</p>"),
    "tall-lazy": page(
        '<div style="height:2600px;background:rgb(255,0,0)"></div>'
        '<img id="lazy" loading="lazy" src="/img.png?w=400&h=300&c=00ff00&delay=300" '
        'width="400" height="300" style="display:block">'
        '<div style="height:100px"></div>'
    ),
    "very-tall": page('<div style="height:17000px;background:linear-gradient(red,blue)"></div>'),
    "split": page('<div style="height:1000px;background:rgb(255,0,0)"></div>'
                  '<div style="height:1000px;background:rgb(0,255,0)"></div>'),
    "late-element": page(
        "<script>setTimeout(() => { const d = document.createElement('div'); d.id = 'late';"
        "d.style.cssText = 'width:300px;height:200px;background:rgb(0,0,255)';"
        "document.body.appendChild(d); }, 700);</script>"
    ),
    "click": page(
        '<button id="go" style="width:200px;height:100px" '
        "onclick=\"document.body.style.background='rgb(0,0,255)'\">go</button>"
    ),
    "delayed-paint": condition_page("true", delay_ms=1500),
    "networkidle0": page(
        "<script>window.addEventListener('load', () => fetch('/slow?ms=1000')"
        ".then(r => r.text()).then(() => { document.body.style.background = 'rgb(0,255,0)'; }));"
        "</script>"
    ),
    # One request that never ends, then three at once after load: networkidle2 waits for the
    # three (more than two open) and then tolerates the one.
    "networkidle2": page(
        "<script>fetch('/hang').catch(() => {});"
        "window.addEventListener('load', () => Promise.all([1, 2, 3].map(i => "
        "fetch('/slow?ms=1000&i=' + i).then(r => r.text()))).then(() => "
        "{ document.body.style.background = 'rgb(0,255,0)'; }));</script>"
    ),
    # Random-looking pixels (a fixed seed), so that jpeg quality shows in the file size.
    "noise": page(
        "<canvas id=c width=1280 height=800></canvas><script>"
        "const c = document.getElementById('c').getContext('2d'); let s = 42;"
        "const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;"
        "for (let y = 0; y < 800; y += 4) for (let x = 0; x < 1280; x += 4) {"
        "c.fillStyle = `rgb(${rnd()*255|0},${rnd()*255|0},${rnd()*255|0})`;"
        "c.fillRect(x, y, 4, 4); }</script>"
    ),
    "geo": page(
        "<script>navigator.geolocation.getCurrentPosition("
        "p => { document.body.style.background = Math.abs(p.coords.latitude - 48.8584) < 0.001 "
        "? 'rgb(0,255,0)' : 'rgb(255,0,0)'; },"
        "() => { document.body.style.background = 'rgb(0,0,255)'; });</script>"
    ),
    "user-agent": condition_page("navigator.userAgent === 'screenshotd-test/1.0'"),
    "stealth": condition_page(
        "navigator.webdriver === false && !navigator.userAgent.includes('Headless')"
        " && navigator.plugins.length > 0 && navigator.languages.length > 0"
    ),
    "timezone": condition_page(
        "Intl.DateTimeFormat().resolvedOptions().timeZone === 'Asia/Tokyo'"
    ),
    "locale": condition_page("navigator.language === 'de-DE'"),
    "touch": condition_page("navigator.maxTouchPoints > 0 && matchMedia('(pointer: coarse)').matches"),
    "dark": page(BOX, "<style>@media (prefers-color-scheme: dark){html,body{background:#000}}</style>"),
    "motion": page("", "<style>body{background:rgb(255,0,0)}"
                   "@media (prefers-reduced-motion: reduce){body{background:rgb(0,255,0)}}</style>"),
    "print": page("", "<style>body{background:rgb(255,0,0)}"
                  "@media print{body{background:rgb(0,0,255)}}</style>"),
    "transparent": page(BOX, "<style>html,body{background:transparent !important}</style>"),
    # ChartBeat's and Google Optimize's anti-flicker snippets, whose scripts never arrive.
    "anti-flicker": page(
        BOX,
        '<style id="chartbeat-flicker-control-style">body{visibility:hidden !important}</style>'
        "<style>.async-hide{opacity:0 !important}</style>"
        "<script>document.documentElement.className += ' async-hide';</script>",
    ),
    "csp": page(BOX, "<meta http-equiv=Content-Security-Policy "
                "content=\"default-src 'none'; script-src 'none'; style-src 'unsafe-inline'\">"),
}


_COUNTERS: dict[str, int] = {}
_COUNTER_LOCK = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server_version = "screenshotd-test"

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        if path.startswith("/pages/") and path[7:] in PAGES:
            self._send(200, PAGES[path[7:]].encode())
        elif path.startswith("/corpus/"):
            target = (CORPUS / path[len("/corpus/"):]).resolve()
            if CORPUS.resolve() in target.parents and target.is_file():
                self._send(200, target.read_bytes())
            else:
                self._send(404, b"not found")
        elif path == "/img.png":
            time.sleep(int(query.get("delay", "0")) / 1000)
            rgb = bytes.fromhex(query.get("c", "00ff00"))
            body = solid_png(int(query.get("w", "10")), int(query.get("h", "10")), tuple(rgb))  # type: ignore[arg-type]
            self._send(200, body, "image/png")
        elif path == "/slow":
            time.sleep(int(query.get("ms", "1000")) / 1000)
            self._send(200, page(BOX).encode())
        elif path == "/hang":
            time.sleep(float(query.get("s", "60")))
            self._send(200, b"late")
        elif path == "/echo":
            # Green when the request carried the expected header or cookie, red otherwise.
            want_header = query.get("header")
            want_cookie = query.get("cookie")
            ok = True
            if want_header:
                name, _, value = want_header.partition(":")
                ok = ok and self.headers.get(name) == value
            if want_cookie:
                ok = ok and want_cookie in (self.headers.get("Cookie") or "")
            colour = "rgb(0,255,0)" if ok else "rgb(255,0,0)"
            self._send(200, page("", f"<style>html,body{{background:{colour} !important}}</style>").encode())
        elif path == "/counter":
            # A page that changes on every load: red, green, blue, red, ... per query string.
            with _COUNTER_LOCK:
                key = parts.query
                _COUNTERS[key] = _COUNTERS.get(key, 0) + 1
                n = _COUNTERS[key]
            colour = ("rgb(255,0,0)", "rgb(0,255,0)", "rgb(0,0,255)")[(n - 1) % 3]
            self._send(200, page(f"<h1>{n}</h1>", f"<style>body{{background:{colour}}}</style>").encode())
        elif path == "/status":
            self._send(int(query.get("code", "404")), page(BOX).encode())
        elif path == "/redirect":
            self._send(int(query.get("code", "302")), b"", headers={"Location": query["to"]})
        elif path == "/sw.js":
            self._send(200, b"self.addEventListener('fetch', e => {});", "text/javascript")
        elif path == "/js":
            self._send(200, query.get("body", "").encode(), "text/javascript")
        elif path == "/serve":
            # Any HTML the test names (attack pages that must point at a port chosen at run time).
            self._send(200, query["html"].encode())
        else:
            self._send(404, b"not found")


@dataclass
class Site:
    base: str

    def url(self, path: str) -> str:
        return self.base + path


@contextlib.contextmanager
def serve_site() -> Iterator[Site]:
    """The test site (PAGES, the corpus, dynamic routes) on a free loopback port, in a thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    with serve_site() as running:
        yield running


class RedisServer:
    """A real ``redis-server`` on a free port, owned by a test: start, kill, pause, restart."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:  # fail loudly: `make test` installs it
            raise RuntimeError("redis-server is not installed; run `make test` to install it")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--protected-mode", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def pause(self) -> None:
        """Freeze the server: it accepts connections and never answers (a slow Redis)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


class Canary:
    """A TCP listener that counts every connection it is offered and answers none of them.

    It stands for the private network: a guard that works keeps its count at 0. ``hosts`` may
    add other loopback addresses on the same port (127.0.0.2 stands for a rebinding target).
    """

    def __init__(self, port: int | None = None, hosts: tuple[str, ...] = ("127.0.0.1",)) -> None:
        self.port = port or free_port()
        self.hosts = hosts
        self.connections = 0
        self._servers: list[asyncio.Server] = []

    def url(self, path: str = "/", scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    async def _count(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()

    async def __aenter__(self) -> Canary:
        for host in self.hosts:
            self._servers.append(await asyncio.start_server(self._count, host, self.port))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for server in self._servers:
            server.close()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """A local webhook endpoint. It records every request, and answers from ``script``
    (status, headers) in order, then 200."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: list[tuple[int, dict[str, str]]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.received.append(Received(
                        self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    status, headers = receiver.script.pop(0) if receiver.script else (200, {})
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    async def wait_for(self, count: int, path: str = "/hook", within: float = 30) -> list[Received]:
        """The first ``count`` requests to ``path``, once they have arrived."""
        deadline = time.monotonic() + within
        while len(self.to(path)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.to(path))} of {count} webhooks arrived at {path}")
            await asyncio.sleep(0.02)
        return self.to(path)[:count]

    def __enter__(self) -> WebhookReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServeProcess:
    """``screenshotd serve`` in its own process (for tests that must see its real logs, or
    that call it from blocking code). Its stderr goes to a file, so that a chatty server never
    blocks on a full pipe."""

    base: str
    proc: subprocess.Popen[bytes]
    log: Any

    def stop(self) -> str:
        """Stop it (SIGTERM) and return everything it wrote to stderr."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")


@contextlib.contextmanager
def serve_process(env: dict[str, str]) -> Iterator[ServeProcess]:
    """Start ``screenshotd serve`` on a free port with ``env`` over the test's environment (and
    loopback allowed), and wait until ``/health`` answers 200."""
    import tempfile

    port = free_port()
    full_env = {**os.environ, "ALLOW_PRIVATE_HOSTS": "127.0.0.1", **env, "PORT": str(port)}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([sys.executable, "-m", "screenshotd", "serve"], env=full_env,
                                stdout=subprocess.DEVNULL, stderr=log)
        running = ServeProcess(f"http://127.0.0.1:{port}", proc, log)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{running.base}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"screenshotd serve did not start: {running.stop()[-2000:]}")
                time.sleep(0.1)
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server for one test, which it may kill, pause and restart."""
    with RedisServer() as server:
        yield server


@dataclass
class Running:
    """A screenshotd server running in the test loop."""

    base: str
    app: Any
    client: httpx.AsyncClient

    @property
    def service(self) -> Any:
        return self.app.state.service

    @property
    def pool(self) -> Any:
        return self.app.state.service.pool


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "allow_private_hosts": ("127.0.0.1",),
        "browser_max_concurrent": 3,
        "max_requests_per_minute": 0,
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def run_server(settings: Settings, resolver: Resolver | None = None) -> AsyncIterator[Running]:
    """Serve ``create_app(settings)`` with uvicorn on a free loopback port."""
    app = create_app(settings, resolver=resolver)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 60
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("screenshotd server stopped during start-up")
        if time.monotonic() > deadline:
            raise RuntimeError("screenshotd server did not start within 60 s")
        await asyncio.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=90) as client:
        try:
            yield Running(base, app, client)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 60)
            sock.close()


@pytest.fixture(scope="session")
async def server() -> AsyncIterator[Running]:
    """The shared server: 3 slots, loopback allowed for the test site."""
    async with run_server(make_settings()) as running:
        yield running


@pytest.fixture
def client(server: Running) -> httpx.AsyncClient:
    return server.client


@pytest.fixture
def captures(server: Running) -> Iterator[list[Any]]:
    """The options of every real capture the shared server starts during the test."""
    seen: list[Any] = []
    server.service.capture_hooks.append(seen.append)
    yield seen
    server.service.capture_hooks.remove(seen.append)


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def rgb_at(image: Image.Image, x: int, y: int) -> tuple[int, int, int]:
    return image.convert("RGB").getpixel((x, y))  # type: ignore[return-value]


def near(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=False))


def assert_error(response: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """The spec's one error shape, with the given status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in body["message"]
    if field is not None:
        assert body.get("field") == field, body
    return body


async def assert_not_visible(other: httpx.AsyncClient, job_id: str, batch_id: str) -> None:
    """Another caller gets 404 for everything about the job and the batch, lists neither, and
    cannot diff the job's result."""
    for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/result",
                 f"/jobs/{job_id}/result/screenshot", f"/jobs/{job_id}/events",
                 f"/batch/{batch_id}"):
        assert_error(await other.get(path), 404, "NOT_FOUND")
    assert_error(await other.delete(f"/jobs/{job_id}"), 404, "NOT_FOUND")
    assert_error(await other.post("/diff", json={"job_id_1": job_id, "job_id_2": job_id}),
                 404, "NOT_FOUND")
    listed = (await other.get("/jobs")).json()
    assert job_id not in {j["id"] for j in listed["jobs"]}
