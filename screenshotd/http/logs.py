"""Logging: the access log, request ids, and ``LOG_FORMAT=text|json``.

:class:`RequestLog` is the outermost middleware. It gives every request an id (``X-Request-Id``:
the caller's own when it sends a sane one, else a new one), and when the response is done it
writes one access line with the request id, the method, the route (``/jobs/{id}``, never the
raw path, so that ids and keys stay out), the status, the duration, the cache outcome
(``X-Cache``), the target host and the caller (``key:<key id>`` or ``ip:<address>``). No query
string is ever logged, so neither are API keys, signatures or webhook secrets.

With ``LOG_FORMAT=json`` every line of every logger, uvicorn's included, is one JSON object;
with ``text`` the access line reads ``GET /screenshot 200 312.4ms cache=MISS host=example.com``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import random
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("screenshotd.access")

#: The fields an access record carries, in the order they are written.
ACCESS_FIELDS = ("request_id", "method", "route", "status", "duration_ms", "cache", "host",
                 "caller")

#: Request ids only need to be unique in the logs, not secret: a seeded PRNG, not a syscall.
_ids = random.Random()
_GIVEN_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")

#: Path segments that are ids or names, replaced by their placeholder in a route.
_ROUTES = (
    (re.compile(r"^/jobs/[^/]+"), "/jobs/{id}"),
    (re.compile(r"^/batch/[^/]+$"), "/batch/{id}"),
    (re.compile(r"^/images/[^/]+$"), "/images/{name}"),
    (re.compile(r"^/static/.+$"), "/static/{path}"),
    (re.compile(r"^/jobs/\{id\}/result/[^/]+$"), "/jobs/{id}/result/{output}"),
    # the seed APIs' faces (screenshotd.http.dialects)
    (re.compile(r"^/api/v1/screenshot/[^/]+"), "/api/v1/screenshot/{id}"),
    (re.compile(r"^/api/v1/batch/[^/]+$"), "/api/v1/batch/{id}"),
    (re.compile(r"^/api/screenshot/capture/[^/]+"), "/api/screenshot/capture/{id}"),
    (re.compile(r"^/v1/screenshots/jobs/[^/]+"), "/v1/screenshots/jobs/{id}"),
    (re.compile(r"^/v1/screenshots/jobs/\{id\}/result/[^/]+$"),
     "/v1/screenshots/jobs/{id}/result/{output}"),
    (re.compile(r"^/api/captures/[^/]+$"), "/api/captures/{id}"),
    (re.compile(r"^/links/[^/]+$"), "/links/{name}"),
)
#: The faces' routes, as labels.
_FACE_ROUTES = frozenset({
    "/api/v1/screenshot", "/api/v1/screenshot/{id}", "/api/v1/screenshot/{id}/stream",
    "/api/v1/screenshots", "/api/v1/me", "/api/v1/batch", "/api/v1/batch/{id}", "/api/v1/diff",
    "/api/v1/og-image", "/api/screenshot/capture", "/api/screenshot/capture/{id}",
    "/api/screenshot/capture/{id}/image", "/v1/screenshots", "/v1/screenshots/async",
    "/v1/screenshots/jobs/{id}", "/v1/screenshots/jobs/{id}/result",
    "/v1/screenshots/jobs/{id}/result/{output}", "/api/captures", "/api/captures/{id}",
    "/links/{name}"})
_KNOWN = frozenset({"/", "/screenshot", "/batch", "/diff", "/health", "/metrics", "/docs",
                    "/openapi.json", "/jobs", "/favicon.ico"})
_JOB_TAILS = frozenset({"", "/result", "/events"})
#: Methods named as they are in logs and metrics; any other is "OTHER" (labels stay bounded).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def new_request_id() -> str:
    return f"{_ids.getrandbits(64):016x}"


def assign_request_id(scope: Scope) -> str:
    """The request's id, kept in its scope's state: the caller's ``X-Request-Id`` when it is
    sane, else a new one."""
    given: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given = value
            break
    if given is not None and _GIVEN_ID.fullmatch(given):
        request_id = given.decode("ascii")
    else:
        request_id = new_request_id()
    scope.setdefault("state", {})["request_id"] = request_id
    return request_id


def route_of(path: str) -> str:
    """The route a path took, with ids replaced: what logs and metrics are labelled with."""
    if path in _KNOWN:
        return path
    for pattern, name in _ROUTES:
        if pattern.match(path):
            path = pattern.sub(name, path)
    if path.startswith("/jobs/{id}"):
        tail = path[len("/jobs/{id}"):]
        return path if tail in _JOB_TAILS or tail.startswith("/result/{") else "other"
    if path in _FACE_ROUTES:
        return path
    return path if path in ("/batch/{id}", "/images/{name}", "/static/{path}") else "other"


@functools.lru_cache(maxsize=4096)
def host_of(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def target_host(scope: Scope) -> str | None:
    """The host a request asks to capture: the URL the routes (or the hit path) parsed, else
    ``url=`` (or ``before=``) read from the query."""
    state = scope.get("state", {})
    if "target" in state:
        url = state["target"]
        return host_of(url) if url else None
    query = scope.get("query_string", b"")
    if b"url=" not in query and b"before=" not in query:
        return None
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name in ("url", "before"):
            return host_of(value)
    return None


class RequestLog:
    """ASGI middleware, outermost: request ids, the access log, and responses counted by
    method, route and status (:attr:`responses`, for ``/metrics``)."""

    def __init__(self, app: ASGIApp,
                 responses: Counter[tuple[str, str, int]] | None = None) -> None:
        self.app = app
        self.responses: Counter[tuple[str, str, int]] = (
            responses if responses is not None else Counter())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = assign_request_id(scope)
        header = (b"x-request-id", request_id.encode("ascii"))
        status = 500
        cache = None

        async def send_with_id(message: Message) -> None:
            nonlocal status, cache
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", [])
                for name, value in headers:
                    if name == b"x-cache":
                        cache = value.decode("latin-1")
                if status == 304:
                    cache = "HIT"  # a 304 is always the cached entry's (it sends no X-Cache)
                message["headers"] = [*headers, header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            answered(self.responses, scope, request_id, status, cache, started)


def answered(responses: Counter[tuple[str, str, int]], scope: Scope, request_id: str,
             status: int, cache: str | None, started: float) -> None:
    """A response is done: count it (by method, route and status) and write its access line.
    :class:`RequestLog` calls it for the app's answers, the hit path for its own."""
    route = route_of(scope["path"])
    method = scope["method"] if scope["method"] in _METHODS else "OTHER"
    responses[(method, route, status)] += 1
    if access_log.isEnabledFor(logging.INFO):
        state = scope.get("state", {})
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        fields = {"request_id": request_id, "method": method, "route": route,
                  "status": status, "duration_ms": elapsed_ms, "cache": cache,
                  "host": target_host(scope),
                  "caller": state.get("caller") or _ip_caller(scope)}
        write_access(fields)


def write_access(fields: dict[str, Any]) -> None:
    """Write one access line. Under :func:`setup_logging` it is formatted here and handed
    straight to the batching handler (:data:`_direct`); otherwise it is an ordinary record of
    the ``screenshotd.access`` logger, for whatever logging the embedding program set up.

    The direct road exists because it is measured: ``access_log.info()`` walks the whole ASGI
    stack to find its caller, and a record with its formatter cost more than the cache hit it
    describes (``benchmarks/bench_gate.py``)."""
    if _direct is not None:
        _direct(fields)
        return
    record = access_log.makeRecord(
        access_log.name, logging.INFO, __file__, 0, "%s %s %d %.1fms",
        (fields["method"], fields["route"], fields["status"], fields["duration_ms"]), None,
        extra={"access": fields})
    access_log.handle(record)


class _Clock:
    """Timestamps for access lines, the date and time part formatted once a second."""

    def __init__(self, json_style: bool) -> None:
        self.json_style = json_style
        self._second = -1
        self._prefix = ""

    def stamp(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            if self.json_style:
                self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
            else:
                self._prefix = time.strftime("%Y-%m-%d %H:%M:%S,", time.localtime(second))
        millis = f"{int((now - second) * 1000):03d}"
        return self._prefix + millis + ("+00:00" if self.json_style else "")


def _direct_writer(handler: BatchingStreamHandler, fmt: str) -> Callable[[dict[str, Any]], None]:
    """An access-line writer that formats as :class:`JsonFormatter` or :class:`TextFormatter`
    would, and appends to ``handler``'s batch."""
    clock = _Clock(fmt == "json")
    quote = json.encoder.encode_basestring
    prefix = '", "level": "info", "logger": "' + access_log.name + '", "message": "'

    def write_json(fields: dict[str, Any]) -> None:
        # JsonFormatter's keys in its order, spelled out: every value but the host and the
        # cache outcome is ours (a token, a number or hex), and those two are quoted.
        method, route, status, ms = (fields["method"], fields["route"], fields["status"],
                                     fields["duration_ms"])
        host, cache = fields["host"], fields["cache"]
        handler.write_line(
            f'{{"time": "{clock.stamp()}{prefix}{method} {route} {status} {ms:.1f}ms", '
            f'"request_id": "{fields["request_id"]}", "method": "{method}", '
            f'"route": "{route}", "status": {status}, "duration_ms": {ms}, '
            f'"cache": {"null" if cache is None else quote(cache)}, '
            f'"host": {"null" if host is None else quote(host)}, '
            f'"caller": {quote(fields["caller"])}}}\n')

    def write_text(fields: dict[str, Any]) -> None:
        extras = " ".join(f"{name}={fields[name]}" for name in
                          ("cache", "host", "caller", "request_id") if fields.get(name))
        handler.write_line(
            f"{clock.stamp()} INFO {access_log.name}: {fields['method']} {fields['route']} "
            f"{fields['status']} {fields['duration_ms']:.1f}ms {extras}\n")

    return write_json if fmt == "json" else write_text


#: The direct access-line writer, set by :func:`setup_logging`; None under other logging.
_direct: Callable[[dict[str, Any]], None] | None = None


def _ip_caller(scope: Scope) -> str:
    client = scope.get("client")
    return f"ip:{client[0] if client else 'unknown'}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the access fields when the
    record is an access line, and the exception when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        access = getattr(record, "access", None)
        if access:
            line.update(access)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger: message``, with an access line's id, cache, host and caller after
    it as ``name=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        access = getattr(record, "access", None)
        if access:
            extras = " ".join(f"{name}={access[name]}" for name in
                              ("cache", "host", "caller", "request_id") if access.get(name))
            text = f"{text} {extras}"
        return text


class BatchingStreamHandler(logging.StreamHandler[TextIO]):
    """A stream handler that writes lines in batches instead of one write (and flush) each.

    A busy server logs thousands of access lines a second, and a write per line costs more than
    answering a cache hit. Lines wait at most :data:`FLUSH_INTERVAL_S` (a daemon thread
    flushes), or until :data:`BATCH_BYTES` are waiting; a warning or worse is written at once,
    with everything before it.
    """

    FLUSH_INTERVAL_S = 0.25
    BATCH_BYTES = 64 * 1024

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._size = 0
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_every, name="log-flush",
                                         daemon=True)
        self._flusher.start()

    def _lock(self) -> threading.RLock:
        """The handler's own lock (logging makes it in ``__init__``; its type says it may not)."""
        assert self.lock is not None
        return self.lock

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:  # noqa: BLE001 - logging must never raise into the app
            self.handleError(record)
            return
        with self._lock():
            self._pending.append(line)
            self._size += len(line)
            urgent = record.levelno >= logging.WARNING or self._size >= self.BATCH_BYTES
        if urgent:
            self.flush()

    def write_line(self, line: str) -> None:
        """Add an already formatted line (ending in a newline) to the batch."""
        with self._lock():
            self._pending.append(line)
            self._size += len(line)
            full = self._size >= self.BATCH_BYTES
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock():
            if self._pending:
                text, self._pending, self._size = "".join(self._pending), [], 0
                try:
                    self.stream.write(text)
                except Exception:  # noqa: BLE001 - a closed stderr must not take the app down
                    pass
            try:
                self.stream.flush()
            except Exception:  # noqa: BLE001
                pass

    def _flush_every(self) -> None:
        while not self._stop.wait(self.FLUSH_INTERVAL_S):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self.flush()
        super().close()


def flush_logs() -> None:
    """Write every line the root logger's handlers hold (before a process ends by a signal,
    which skips the exit handlers that would)."""
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()


def setup_logging(level: str, fmt: str = "text") -> None:
    """One batching stderr handler on the root logger with the chosen format; uvicorn's loggers
    (whose own access log ``serve`` turns off) write through it. The records skip the process,
    thread and task names no format here shows."""
    logging.logProcesses = False
    logging.logThreads = False
    logging.logMultiprocessing = False
    global _direct
    handler = BatchingStreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    _direct = _direct_writer(handler, fmt)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
