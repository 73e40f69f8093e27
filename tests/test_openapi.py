"""The OpenAPI document on its own: built from the options model and the error tree, and valid
OpenAPI 3.1."""

from __future__ import annotations

import json

import pytest

from screenshotd import errors
from screenshotd.http.openapi import document
from screenshotd.http.openapi_tags import tag_paths
from screenshotd.params.capture import KNOWN_PARAMS, CaptureOptions


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
    assert fmt["enum"] == ["png", "jpeg", "webp", "pdf", "mp4", "webm"] and fmt["default"] == "png"
    assert all(name in KNOWN_PARAMS for name in names)


def test_only_free_text_parameters_carry_the_query_string_length_note():
    params = document()["paths"]["/screenshot"]["get"]["parameters"]
    noted = {p["name"] for p in params if "at most 8192" in p.get("description", "")}
    enums = {p["name"] for p in params if "enum" in p["schema"]}
    assert {"format", "wait_until", "response_type", "pdf_paper_format"} <= enums
    assert not noted & enums, noted & enums
    assert {"html", "html_base64", "scripts", "styles", "cookies"} <= noted


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
    # screenshotd's own 21, the monitors' and widgets' 17, each face's (10, 3, 5, 2) and the
    # faces' signed links
    assert len(operations) == 21 + 17 + 20 + 1 and all(op.ok() for op in operations)
    Draft202012Validator.check_schema(doc["components"]["schemas"]["CaptureRequest"])
    ids = set()
    for item in doc["paths"].values():
        for op in item.values():
            assert op["operationId"] and op["responses"] and op["operationId"] not in ids
            ids.add(op["operationId"])
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            if "$ref" not in body.get("schema", {"$ref": ""}):
                Draft202012Validator.check_schema(body["schema"])


def test_each_face_is_under_its_own_tag_and_dialects_leave_out_the_others():
    doc = document()
    by_tag: dict[str, set[str]] = {}
    for path, item in doc["paths"].items():
        for op in item.values():
            by_tag.setdefault(op["tags"][0], set()).add(path)
    assert by_tag["Seed 000: GoScreenAPI v1"] >= {"/api/v1/screenshot", "/api/v1/diff"}
    assert by_tag["Seed 001: Capture flow"] == {
        "/api/screenshot/capture", "/api/screenshot/capture/{id}",
        "/api/screenshot/capture/{id}/image"}
    assert "/v1/screenshots/async" in by_tag["Seed 003: allscreenshots"]
    assert by_tag["Seed 004: sessionshot"] == {"/api/captures", "/api/captures/{id}"}
    # 004's error statuses are its document's codes, and only those
    failures = document()["paths"]["/api/captures"]["post"]["responses"]
    assert {"400", "401", "403", "404", "413", "429", "500"} <= set(failures)
    only = document(("004",))
    assert not any(path.startswith("/api/v1/") for path in only["paths"])
    bare = document(())
    assert "/links/{name}" not in bare["paths"] and len(bare["tags"]) == 9


def test_the_diff_s_parameters_come_from_its_model():
    """GET /diff's query, POST /diff's body and `screenshotd diff`'s flags all list
    DiffParams' fields, with its defaults and bounds."""
    from screenshotd.cli.diff import diff
    from screenshotd.params.diff import DIFF_NAMES, DiffOptions

    doc = document()
    query = {p["name"]: p for p in doc["paths"]["/diff"]["get"]["parameters"]}
    assert set(query) == DIFF_NAMES | {"before", "after"}
    assert query["threshold"]["schema"] == {"type": "number", "minimum": 0, "maximum": 1,
                                            "default": 0.1}
    assert query["diff_color"]["schema"] == {"type": "string", "default": "255,0,0"}
    body = doc["components"]["schemas"]["DiffRequest"]["properties"]
    assert DIFF_NAMES <= set(body) and {"image1", "cache_key_2", "after"} <= set(body)
    flags = {param.name: param for param in diff.params}
    assert set(DiffOptions.model_fields) <= set(flags)
    assert flags["threshold"].default == 0.1 and flags["alpha"].help == (
        DiffOptions.model_fields["alpha"].description)


def test_every_operation_is_in_a_declared_group():
    """``/docs`` shows the operations in groups, not under one "default" heading."""
    doc = document()
    declared = [tag["name"] for tag in doc["tags"]]
    assert len(declared) == len(set(declared))
    used = set()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            tags = operation.get("tags")
            assert tags and len(tags) == 1 and tags[0] in declared, (method, path, tags)
            used.add(tags[0])
    assert used == set(declared)  # no group is empty
    assert doc["paths"]["/jobs/{job_id}/events"]["get"]["tags"] == ["Jobs and batch"]
    with pytest.raises(LookupError):
        tag_paths({"/nowhere": {"get": {}}}, (("/screenshot", "Captures"),))
