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

import json
import logging
import random
import re
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any
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
)
_KNOWN = frozenset({"/", "/screenshot", "/batch", "/diff", "/health", "/metrics", "/docs",
                    "/openapi.json", "/jobs", "/favicon.ico"})
_JOB_TAILS = frozenset({"", "/result", "/events"})


def new_request_id() -> str:
    return f"{_ids.getrandbits(64):016x}"


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
    return path if path in ("/batch/{id}", "/images/{name}", "/static/{path}") else "other"


def target_host(scope: Scope) -> str | None:
    """The host a request asks to capture: set by the routes for POST bodies, else read from
    ``url=`` (or ``before=``) in the query."""
    state = scope.get("state", {})
    if "target" in state:
        return state["target"]  # type: ignore[no-any-return]
    query = scope.get("query_string", b"")
    if b"url=" not in query and b"before=" not in query:
        return None
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name in ("url", "before"):
            try:
                return urlsplit(value).hostname
            except ValueError:
                return None
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
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id" and _GIVEN_ID.fullmatch(value):
                request_id = value.decode("ascii")
                break
        request_id = request_id or new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
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
                message["headers"] = [*headers, header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = route_of(scope["path"])
            self.responses[(scope["method"], route, status)] += 1
            if access_log.isEnabledFor(logging.INFO):
                state = scope.get("state", {})
                elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
                access_log.info(
                    "%s %s %d %.1fms", scope["method"], route, status, elapsed_ms,
                    extra={"access": {
                        "request_id": request_id, "method": scope["method"], "route": route,
                        "status": status, "duration_ms": elapsed_ms,
                        "cache": cache, "host": target_host(scope),
                        "caller": state.get("caller") or _ip_caller(scope),
                    }})


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


def setup_logging(level: str, fmt: str = "text") -> None:
    """One stderr handler on the root logger with the chosen format; uvicorn's loggers (whose
    own access log ``serve`` turns off) write through it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
