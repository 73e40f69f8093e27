"""The OpenAPI document on its own: built from the options model and the error tree, and valid
OpenAPI 3.1; plus the log helpers it shares names with (routes)."""

from __future__ import annotations

import json
import logging

from screenshotd import errors
from screenshotd.logs import JsonFormatter, TextFormatter, route_of
from screenshotd.openapi import document
from screenshotd.options import KNOWN_PARAMS, CaptureOptions


def test_every_capture_option_is_a_documented_parameter():
    doc = document()
    get = doc["paths"]["/screenshot"]["get"]
    names = {p["name"] for p in get["parameters"]}
    fields = {f.alias or name for name, f in CaptureOptions.model_fields.items()}
    assert fields <= names
    assert {"signature", "expires"} <= names
    body = doc["components"]["schemas"]["CaptureRequest"]["properties"]
    assert fields == set(body)
    width = next(p for p in get["parameters"] if p["name"] == "width")["schema"]
    assert (width["type"], width["minimum"], width["maximum"]) == ("integer", 100, 4000)
    fmt = next(p for p in get["parameters"] if p["name"] == "format")["schema"]
    assert fmt["enum"] == ["png", "jpeg", "webp", "pdf"] and fmt["default"] == "png"
    assert all(name in KNOWN_PARAMS for name in names)


def test_every_error_code_of_the_tree_is_documented():
    doc = document()
    codes = set(doc["components"]["schemas"]["Error"]["properties"]["error"]["enum"])
    assert {cls.code for cls in errors.ERROR_CLASSES} <= codes
    responses = doc["paths"]["/screenshot"]["get"]["responses"]
    for cls in errors.ERROR_CLASSES:
        if cls.code in ("NOT_READY", "CANCELLED", "JOB_FINISHED"):
            continue  # job-only answers
        assert cls.code in responses[str(cls.status)]["description"], cls


def test_the_document_is_valid_openapi_3_1():
    from jsonschema import Draft202012Validator
    from schemathesis.openapi import from_dict

    doc = json.loads(json.dumps(document()))  # plain JSON, as served
    assert doc["openapi"] == "3.1.0"
    schema = from_dict(doc)  # raises on a document schemathesis cannot read
    operations = list(schema.get_all_operations())
    assert len(operations) == 15 and all(op.ok() for op in operations)
    Draft202012Validator.check_schema(doc["components"]["schemas"]["CaptureRequest"])
    for item in doc["paths"].values():
        for op in item.values():
            assert op["operationId"] and op["responses"]


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
        import sys

        failing = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "ValueError: boom" in json.loads(JsonFormatter().format(failing))["exception"]
