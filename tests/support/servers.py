"""Real servers a test owns: ``redis-server`` on a free port, a webhook receiver, a TCP canary,
``screenshotd serve`` in its own process, and screenshotd in the test's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import uvicorn

from screenshotd.http.app import create_app
from screenshotd.net.egress import Resolver
from screenshotd.settings import Settings
from tests.support import children


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
        self.proc = children.popen(
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


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServeProcess:
    """``screenshotd serve`` in its own process (for tests that must see its real logs, that
    call it from blocking code, or that kill it). Its stderr goes to a file, so that a chatty
    server never blocks on a full pipe."""

    base: str
    proc: subprocess.Popen[bytes]
    log: Any

    @classmethod
    def spawn(cls, env: dict[str, str]) -> ServeProcess:
        """Start it on a free port with ``env`` over the test's environment (and loopback
        allowed); :meth:`wait_ready` waits for it."""
        import tempfile

        port = free_port()
        full_env = {**os.environ, "ALLOW_PRIVATE_HOSTS": "127.0.0.1",
                    "DATA_DIR": tempfile.mkdtemp(prefix="screenshotd-data-"), **env,
                    "PORT": str(port)}
        log = tempfile.TemporaryFile()
        proc = children.popen([sys.executable, "-m", "screenshotd", "serve"], env=full_env,
                               stdout=subprocess.DEVNULL, stderr=log)
        return cls(f"http://127.0.0.1:{port}", proc, log)

    def wait_ready(self, within: float = 60) -> None:
        """Wait until ``/health`` answers 200; a server that dies or hangs fails with its log."""
        deadline = time.monotonic() + within
        while True:
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"screenshotd serve did not start: {self.stop()[-2000:]}")
            time.sleep(0.1)

    def health(self) -> dict[str, Any]:
        return httpx.get(f"{self.base}/health", timeout=10).json()  # type: ignore[no-any-return]

    def kill(self) -> None:
        """SIGKILL: the process ends at once, with no chance to hand anything back."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

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

    def close(self) -> None:
        self.stop()
        self.log.close()


@contextlib.contextmanager
def serve_process(env: dict[str, str]) -> Iterator[ServeProcess]:
    """Start ``screenshotd serve`` on a free port with ``env`` over the test's environment (and
    loopback allowed), and wait until ``/health`` answers 200."""
    running = ServeProcess.spawn(env)
    try:
        running.wait_ready()
        yield running
    finally:
        running.close()


@contextlib.contextmanager
def serve_processes(count: int, env: dict[str, str]) -> Iterator[list[ServeProcess]]:
    """``count`` replicas of ``screenshotd serve`` with the same ``env``, started together."""
    replicas = [ServeProcess.spawn(env) for _ in range(count)]
    try:
        for replica in replicas:
            replica.wait_ready()
        yield replicas
    finally:
        for replica in replicas:
            replica.close()


@dataclass
class Running:
    """A screenshotd server running in the test loop."""

    base: str
    app: Any
    client: httpx.AsyncClient

    @property
    def service(self) -> Any:
        return self.app.state.service

    def freeze_limiter(self, at: float) -> None:
        """Stop the rate limiter's clock inside one minute, so that a test's requests never
        straddle the turn of a window (which resets the counts)."""
        self.app.state.gatekeeper.limiter.clock = lambda: at

    @property
    def pool(self) -> Any:
        return self.app.state.service.pool


#: Every 5xx a test server answered that is not one of the service's own "try again" or
#: "the page crashed" answers (503, 502 RENDER_CRASHED): a 500 means a bug. The suite fails at
#: its end if any is left here (tests/conftest.py); a test that provokes one on purpose takes
#: it out.
SERVER_ERRORS: list[str] = []


class WatchServerErrors:
    """ASGI middleware around a test server's app: notes each 500-class answer in
    :data:`SERVER_ERRORS`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def watched(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 500 \
                    and message["status"] not in (502, 503):
                SERVER_ERRORS.append(f"{scope['method']} {scope['path']}: {message['status']}")
            await send(message)

        await self.app(scope, receive, watched)


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "allow_private_hosts": ("127.0.0.1",),
        "browser_max_concurrent": 3,
        "max_requests_per_minute": 0,
        # CI runs the integration suite once more in page mode (make test-page).
        "browser_isolation": os.environ.get("BROWSER_ISOLATION", "caller"),
        # monitors keep their file and images here, never in the checkout
        "data_dir": tempfile.mkdtemp(prefix="screenshotd-data-"),
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
    config = uvicorn.Config(WatchServerErrors(app), log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=10)
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
    # The client lets an idle connection go after 2 s, before the server's keep-alive of 5 s
    # closes it: with both at 5 s, a request sent on a connection the server was just closing
    # ended in "Server disconnected without sending a response" (seen once in a full run).
    limits = httpx.Limits(keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=base, timeout=90, limits=limits) as client:
        try:
            yield Running(base, app, client)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 60)
            sock.close()
