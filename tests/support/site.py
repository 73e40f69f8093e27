"""The test site: :data:`~tests.support.pages.PAGES`, the corpus and dynamic routes (slow,
hanging, redirecting, echoing pages), served on a free loopback port in a thread."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.pages import BOX, CORPUS, FONT, PAGES, page, solid_png

#: Fetches of ``/cacheable``, by its ``tag``.
CACHEABLE_HITS: dict[str, int] = {}
_COUNTERS: dict[str, int] = {}


_COUNTER_LOCK = threading.Lock()
#: Every GET the site answered, by path and query: how many times a page was loaded.
LOADS: Counter[str] = Counter()
#: ``/tracked`` pages being served now, and the most served at once, by their ``group``.
IN_FLIGHT: Counter[str] = Counter()
MOST_IN_FLIGHT: Counter[str] = Counter()


class _Handler(BaseHTTPRequestHandler):
    server_version = "screenshotd-test"

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8",
              headers: dict[str, str] | None = None, cache_control: str = "no-store") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", cache_control)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        with _COUNTER_LOCK:
            LOADS[self.path] += 1
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
        elif path == "/font":
            time.sleep(int(query.get("ms", "0")) / 1000)
            self._send(200, FONT.read_bytes(), "font/ttf")
        elif path == "/slow":
            time.sleep(int(query.get("ms", "1000")) / 1000)
            self._send(200, page(BOX).encode())
        elif path == "/tracked":
            # A slow page that counts how many of its group are being served at once.
            group = query.get("group", "")
            with _COUNTER_LOCK:
                IN_FLIGHT[group] += 1
                MOST_IN_FLIGHT[group] = max(MOST_IN_FLIGHT[group], IN_FLIGHT[group])
            try:
                time.sleep(int(query.get("ms", "500")) / 1000)
            finally:
                with _COUNTER_LOCK:
                    IN_FLIGHT[group] -= 1
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
        elif path == "/cacheable":
            # A script a browser may keep for an hour; every fetch of it is counted per tag.
            with _COUNTER_LOCK:
                CACHEABLE_HITS[query.get("tag", "")] = CACHEABLE_HITS.get(query.get("tag", ""), 0) + 1
            self._send(200, b"window.cached = true;", "text/javascript",
                       cache_control="public, max-age=3600")
        elif path == "/status":
            self._send(int(query.get("code", "404")), page(BOX).encode())
        elif path == "/redirect":
            self._send(int(query.get("code", "302")), b"", headers={"Location": query["to"]})
        elif path == "/sw.js":
            self._send(200, b"self.addEventListener('fetch', e => {});", "text/javascript")
        elif path == "/js":
            self._send(200, query.get("body", "").encode(), "text/javascript")
        elif path == "/css":
            self._send(200, query.get("body", "").encode(), "text/css")
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
