"""Logging on its own: routes without ids, the formatters, the direct access-line writer (which
must write what the formatters would), and the batching handler."""

from __future__ import annotations

import io
import json
import logging
import sys
import time

from screenshotd.http import logs
from screenshotd.http.logs import BatchingStreamHandler, JsonFormatter, TextFormatter, route_of

FIELDS = {"request_id": "abc", "method": "GET", "route": "/screenshot", "status": 200,
          "duration_ms": 12.5, "cache": "HIT", "host": "exa\"mple.com", "caller": "key:0123"}


def test_routes_in_logs_and_metrics_never_carry_ids():
    assert route_of("/screenshot") == "/screenshot"
    assert route_of("/jobs/abc123") == "/jobs/{id}"
    assert route_of("/jobs/abc123/result") == "/jobs/{id}/result"
    assert route_of("/jobs/abc123/result/content") == "/jobs/{id}/result/{output}"
    assert route_of("/jobs/abc123/events") == "/jobs/{id}/events"
    assert route_of("/batch/xyz") == "/batch/{id}"
    assert route_of("/images/" + "a" * 64 + ".png") == "/images/{name}"
    assert route_of("/static/style.css") == "/static/{path}"
    assert route_of("/wp-admin/secret-token") == "other"
    assert route_of("/jobs/a/b/c") == "other"


def test_json_and_text_formatters_write_the_access_fields():
    record = logging.LogRecord("screenshotd.access", logging.INFO, __file__, 1,
                               "%s %s %d %.1fms", ("GET", "/screenshot", 200, 12.5), None)
    record.access = {"request_id": "abc", "method": "GET", "route": "/screenshot",
                     "status": 200, "duration_ms": 12.5, "cache": "HIT",
                     "host": "example.com", "caller": "key:0123"}
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "GET /screenshot 200 12.5ms" and line["level"] == "info"
    assert line["request_id"] == "abc" and line["cache"] == "HIT" and line["host"] == "example.com"
    text = TextFormatter().format(record)
    assert "GET /screenshot 200 12.5ms cache=HIT host=example.com" in text
    try:
        raise ValueError("boom")
    except ValueError:
        failing = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "ValueError: boom" in json.loads(JsonFormatter().format(failing))["exception"]


def record_for(fields: dict) -> logging.LogRecord:
    record = logging.LogRecord("screenshotd.access", logging.INFO, __file__, 1,
                               "%s %s %d %.1fms", (fields["method"], fields["route"],
                                                   fields["status"], fields["duration_ms"]),
                               None)
    record.access = fields  # type: ignore[attr-defined]
    return record


def test_the_direct_writer_writes_what_the_formatters_would():
    for fmt, formatter in (("json", JsonFormatter()), ("text", TextFormatter())):
        for fields in (FIELDS, {**FIELDS, "cache": None, "host": None}):
            handler = BatchingStreamHandler(io.StringIO())
            try:
                logs._direct_writer(handler, fmt)(fields)
                handler.flush()
                direct = handler.stream.getvalue()
            finally:
                handler.close()
            assert direct.endswith("\n") and direct.count("\n") == 1
            expected = formatter.format(record_for(fields))
            if fmt == "json":
                got, want = json.loads(direct), json.loads(expected)
                assert got.pop("time")[:16] == want.pop("time")[:16]
                assert got == want
            else:
                # the same line after the timestamp
                assert direct.rstrip("\n").split(" ", 2)[2] == expected.split(" ", 2)[2]


def test_batching_writes_at_once_for_warnings_and_on_a_timer_otherwise():
    stream = io.StringIO()
    handler = BatchingStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    try:
        handler.emit(logging.LogRecord("x", logging.INFO, __file__, 1, "quiet", (), None))
        assert stream.getvalue() == ""  # waiting for the batch
        handler.emit(logging.LogRecord("x", logging.WARNING, __file__, 1, "loud", (), None))
        assert stream.getvalue() == "INFO quiet\nWARNING loud\n"  # in order, at once
        handler.write_line("later\n")
        deadline = time.monotonic() + 5
        while "later" not in stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stream.getvalue().endswith("later\n")  # the flusher thread wrote it
    finally:
        handler.close()


async def test_the_request_log_counts_by_bounded_labels_and_sets_the_id():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    log = logs.RequestLog(app)
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    for method, path in (("PROPFIND", "/jobs/abc"), ("GET", "/wp-login.php"),
                         ("GET", "/jobs/abc")):
        await log({"type": "http", "method": method, "path": path, "headers": [],
                   "query_string": b""}, None, send)
    assert dict(log.responses) == {("OTHER", "/jobs/{id}", 404): 1, ("GET", "other", 404): 1,
                                   ("GET", "/jobs/{id}", 404): 1}
    assert all(dict(m["headers"])[b"x-request-id"] for m in sent if "status" in m)
