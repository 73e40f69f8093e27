"""The seed APIs' faces beyond their documents' examples: bad input through every face gets that
face's error body and code (never a 5xx); a job made through a face is the same job in
``/jobs`` and on another replica; links open from the result storage once the job is gone;
``DIALECTS`` turns faces off; a key in the query string opens only what the document says."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.checks import decode
from tests.support.servers import RedisServer, ServeProcess, serve_process, serve_processes
from tests.support.site import Site

KEY, OTHER = "faces-key-0123456789", "faces-other-key-0123456789"
ENV = {"API_KEYS": f"{KEY},{OTHER}", "MAX_REQUESTS_PER_MINUTE": "0"}


@pytest.fixture(scope="module")
def keyed() -> Iterator[ServeProcess]:
    with serve_process(ENV) as running:
        yield running


def shape_000(body: Any, code: str, field: str | None) -> None:
    assert body["status"] == "error" and body["code"] == code and body["message"]
    if field is not None:
        assert body["errors"] == {field: [body["message"]]}


def shape_001(body: Any, code: str, field: str | None) -> None:
    assert body["status"] == "ERROR" and body["error"]["code"] == code
    assert body["error"].get("field") == field


def shape_003(body: Any, code: str, field: str | None) -> None:
    assert body["errorCode"] == code and body["errorMessage"]
    assert body.get("field") == field


def shape_004(body: Any, code: str, field: str | None) -> None:
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    assert body["error"].get("field") == field


#: (face's shape, method, path, headers, JSON body, status, code, field)
CASES: list[tuple[Any, str, str, dict[str, str], Any, int, str, str | None]] = [
    # 000: 401 without a key or with a wrong one; 422 with `errors` for bad fields
    (shape_000, "POST", "/api/v1/screenshot", {}, {"url": "https://example.com"}, 401,
     "UNAUTHORIZED", None),
    (shape_000, "POST", "/api/v1/screenshot", {"Authorization": "Bearer nope"},
     {"url": "https://example.com"}, 401, "UNAUTHORIZED", None),
    (shape_000, "POST", "/api/v1/screenshot", "key", {"url": "https://example.com",
                                                       "width": 50}, 422, "VALIDATION_ERROR",
     "width"),
    (shape_000, "POST", "/api/v1/screenshot", "key", {"url": "https://example.com",
                                                       "js_scenario": "x" * 5000}, 422,
     "VALIDATION_ERROR", "js_scenario"),
    (shape_000, "POST", "/api/v1/screenshot", "key", {"url": "https://example.com",
                                                       "theme": "sepia"}, 422,
     "VALIDATION_ERROR", "theme"),
    (shape_000, "POST", "/api/v1/screenshot", "key", {"url": "https://example.com",
                                                       "headers": "{not json"}, 422,
     "VALIDATION_ERROR", "headers"),
    (shape_000, "POST", "/api/v1/screenshot", "key", {"url": "https://example.com",
                                                       "headers": json.dumps(
                                                           {f"h{i}": "v" for i in range(11)})},
     422, "VALIDATION_ERROR", "headers"),
    (shape_000, "POST", "/api/v1/screenshot", "key", {"url": "https://example.com",
                                                       "css": 12}, 422, "VALIDATION_ERROR",
     "css"),
    (shape_000, "POST", "/api/v1/screenshot", "key", {"url": "ftp://example.com"}, 422,
     "INVALID_URL", "url"),
    (shape_000, "POST", "/api/v1/screenshot", "key", {"url": "http://10.0.0.1/"}, 403,
     "BLOCKED", None),
    (shape_000, "POST", "/api/v1/screenshot", "key", {"url": "https://example.com",
                                                       "async": "yes"}, 422,
     "VALIDATION_ERROR", "async"),
    (shape_000, "POST", "/api/v1/screenshot", "key", [1, 2], 422, "VALIDATION_ERROR", "body"),
    (shape_000, "GET", "/api/v1/screenshot/not-an-id", "key", None, 404, "NOT_FOUND", None),
    (shape_000, "GET", "/api/v1/screenshot/00000000-0000-0000-0000-000000000000", "key", None,
     404, "NOT_FOUND", None),
    (shape_000, "GET", "/api/v1/screenshots?per_page=101", "key", None, 422,
     "VALIDATION_ERROR", "per_page"),
    (shape_000, "GET", "/api/v1/screenshots?status=done", "key", None, 422,
     "VALIDATION_ERROR", "status"),
    (shape_000, "GET", "/api/v1/screenshots?api_key=" + KEY, {}, None, 401, "UNAUTHORIZED",
     None),
    (shape_000, "POST", "/api/v1/batch", "key", {"requests": []}, 422, "VALIDATION_ERROR",
     "requests"),
    (shape_000, "POST", "/api/v1/batch", "key", {"requests": [{"url": "https://a.example"}] * 51},
     422, "VALIDATION_ERROR", "requests"),
    (shape_000, "POST", "/api/v1/batch", "key", {"requests": [{"url": "https://a.example",
                                                               "selector": "#x"}]},
     422, "VALIDATION_ERROR", "requests.0.selector"),
    (shape_000, "POST", "/api/v1/diff", "key", {"request_id_1": "x"}, 422, "VALIDATION_ERROR",
     "request_id_1"),
    (shape_000, "POST", "/api/v1/og-image", "key", {"description": "no title"}, 422,
     "VALIDATION_ERROR", "title"),
    (shape_000, "DELETE", "/api/v1/me", "key", None, 405, "NOT_FOUND", None),
    (shape_000, "GET", "/api/v1/nothing", "key", None, 404, "NOT_FOUND", None),
    # 001
    (shape_001, "POST", "/api/screenshot/capture", {}, {"url": "https://example.com"}, 401,
     "UNAUTHORIZED", None),
    (shape_001, "POST", "/api/screenshot/capture", "key", {"viewportWidth": 1280}, 400,
     "VALIDATION_ERROR", "url"),
    (shape_001, "POST", "/api/screenshot/capture", "key", {"url": "https://example.com",
                                                            "viewportWidth": 5}, 400,
     "VALIDATION_ERROR", "viewportWidth"),
    (shape_001, "POST", "/api/screenshot/capture", "key", {"url": "https://example.com",
                                                            "zoom": 2}, 400,
     "VALIDATION_ERROR", "zoom"),
    (shape_001, "GET", "/api/screenshot/capture/cap_nope", "key", None, 404, "NOT_FOUND", None),
    (shape_001, "GET", "/api/screenshot/capture/" + "0" * 32, "key", None, 404, "NOT_FOUND",
     None),
    # 003
    (shape_003, "POST", "/v1/screenshots/async", {}, {"url": "https://example.com"}, 401,
     "UNAUTHORIZED", None),
    (shape_003, "POST", "/v1/screenshots/async", "key", {"fullPage": True}, 400,
     "VALIDATION_ERROR", "url"),
    (shape_003, "POST", "/v1/screenshots/async", "key", {"url": "https://example.com",
                                                          "responseType": "xml"}, 400,
     "VALIDATION_ERROR", "responseType"),
    (shape_003, "POST", "/v1/screenshots/async", "key", {"url": "https://example.com",
                                                          "outputs": ["pdf"]}, 400,
     "VALIDATION_ERROR", "outputs.0"),
    (shape_003, "POST", "/v1/screenshots", "key", {"url": "https://example.com",
                                                    "viewport": {"width": 99999}}, 400,
     "VALIDATION_ERROR", "viewport.width"),
    (shape_003, "POST", "/v1/screenshots", "key", {"url": "https://example.com",
                                                    "fullpage": True}, 400,
     "VALIDATION_ERROR", "fullpage"),
    (shape_003, "GET", "/v1/screenshots/jobs/nope/result", "key", None, 404, "NOT_FOUND",
     None),
    # 004: the document's codes
    (shape_004, "POST", "/api/captures", {}, {"url": "https://example.com"}, 401,
     "UNAUTHENTICATED", None),
    (shape_004, "POST", "/api/captures", {"Authorization": "Basic eDp5"},
     {"url": "https://example.com"}, 401, "UNAUTHENTICATED", None),
    (shape_004, "POST", "/api/captures", "key", {"url": "https://example.com", "extra": 1}, 400,
     "VALIDATION_ERROR", "extra"),
    (shape_004, "POST", "/api/captures", "key", {"url": "https://example.com",
                                                  "output": {"fullpage": True}}, 400,
     "VALIDATION_ERROR", "output.fullpage"),
    (shape_004, "POST", "/api/captures", "key", {"url": "https://example.com",
                                                  "output": {"width": 100}}, 400,
     "VALIDATION_ERROR", "output.width"),
    (shape_004, "POST", "/api/captures", "key", {"url": "https://example.com",
                                                  "output": {"format": "webp"}}, 400,
     "VALIDATION_ERROR", "output.format"),
    (shape_004, "POST", "/api/captures", "key", {"url": "https://example.com", "auth": {
        "headers": {"Cookie": "a=b"}}}, 400, "VALIDATION_ERROR", "auth.headers"),
    (shape_004, "POST", "/api/captures", "key", {"url": "https://example.com", "actions": [
        {"type": "wait", "ms": 20000}]}, 400, "VALIDATION_ERROR", "actions.0.ms"),
    (shape_004, "POST", "/api/captures", "key", {"url": "https://example.com", "actions": [
        {"type": "hover", "selector": "a"}]}, 400, "VALIDATION_ERROR", "actions.0.type"),
    (shape_004, "POST", "/api/captures", "key", {"url": "https://example.com", "actions": [
        {"type": "type", "selector": "a", "text": "x" * 1001}]}, 400, "VALIDATION_ERROR",
     "actions.0.text"),
    (shape_004, "POST", "/api/captures", "key", {"url": "https://example.com",
                                                  "metadata": {"x": "y" * 2000}}, 400,
     "VALIDATION_ERROR", "metadata"),
    (shape_004, "POST", "/api/captures", "key", {"url": "https://example.com", "redaction": {
        "mode": "pixelate"}}, 400, "VALIDATION_ERROR", "redaction.mode"),
    (shape_004, "POST", "/api/captures", "key", {"url": "javascript:alert(1)"}, 400,
     "VALIDATION_ERROR", "url"),
    (shape_004, "POST", "/api/captures", "key", {"url": "http://169.254.169.254/"}, 403,
     "DOMAIN_NOT_ALLOWED", None),
    (shape_004, "GET", "/api/captures/cap_nope", "key", None, 404, "NOT_FOUND", None),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case[1]} {case[2][:60]} {case[5]}")
def test_bad_input_gets_the_face_s_error(keyed: ServeProcess, case: Any):
    shape, method, path, headers, body, status, code, field = case
    if headers == "key":
        headers = {"Authorization": f"Bearer {KEY}"}
    response = httpx.request(method, keyed.base + path, headers=headers, timeout=30,
                             **({"json": body} if body is not None else {}))
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    shape(response.json(), code, field)


def test_a_huge_body_is_413_in_the_face_s_shape(keyed: ServeProcess):
    response = httpx.post(f"{keyed.base}/api/captures", timeout=30,
                          headers={"Authorization": f"Bearer {KEY}",
                                   "Content-Type": "application/json"},
                          content=b'{"url": "' + b"a" * (5 * 1024 * 1024) + b'"}')
    assert response.status_code == 413
    shape_004(response.json(), "PAYLOAD_TOO_LARGE", None)


def test_a_capture_through_a_face_is_a_job_of_jobs_and_another_key_sees_none(
        keyed: ServeProcess, site: Site):
    """004 and 000 make jobs that /jobs shows under the same id; another key gets 404 from
    every face and from /jobs."""
    headers = {"Authorization": f"Bearer {KEY}"}
    made = httpx.post(f"{keyed.base}/api/captures", headers=headers, timeout=30,
                      json={"url": site.url("/pages/basic")}).json()
    job_id = made["id"].removeprefix("cap_").replace("-", "")
    native = _until(f"{keyed.base}/jobs/{job_id}", headers,
                    lambda body: body["status"] == "completed")
    assert native["url"] == site.url("/pages/basic")
    listed = httpx.get(f"{keyed.base}/jobs", headers=headers, timeout=30).json()
    assert job_id in [job["id"] for job in listed["jobs"]]
    # the same job through 000's poll and 001's
    poll = httpx.get(f"{keyed.base}/api/v1/screenshot/{job_id}", headers=headers, timeout=30)
    assert poll.json()["request"]["status"] == "completed"
    other = {"Authorization": f"Bearer {OTHER}"}
    for path in (f"/jobs/{job_id}", f"/api/captures/{made['id']}",
                 f"/api/v1/screenshot/{job_id}", f"/v1/screenshots/jobs/{job_id}",
                 f"/api/screenshot/capture/cap_{job_id}"):
        assert httpx.get(keyed.base + path, headers=other, timeout=30).status_code == 404, path


def test_a_query_key_opens_only_000_s_stream(keyed: ServeProcess, site: Site):
    """Through a face, the key goes in a header; only 000's event stream takes ``?key=``.
    The native ``?api_key=`` still works on the native paths."""
    headers = {"Authorization": f"Bearer {KEY}"}
    made = httpx.post(f"{keyed.base}/api/v1/screenshot", headers=headers, timeout=30,
                      json={"url": site.url("/pages/basic"), "async": False}).json()
    request_id = made["request_id"]
    for path in (f"/api/v1/screenshot/{request_id}?key={KEY}",
                 f"/api/v1/screenshot/{request_id}?api_key={KEY}",
                 f"/api/captures/cap_{request_id}?api_key={KEY}"):
        assert httpx.get(keyed.base + path, timeout=30).status_code == 401, path
    stream = httpx.get(f"{keyed.base}/api/v1/screenshot/{request_id}/stream?key={KEY}",
                       timeout=30)
    assert stream.status_code == 200 and "event: completed" in stream.text
    native = httpx.get(f"{keyed.base}/jobs/{request_id.replace('-', '')}?api_key={KEY}",
                       timeout=30)
    assert native.status_code == 200


def test_a_link_that_was_changed_or_expired_does_not_open(keyed: ServeProcess, site: Site):
    headers = {"Authorization": f"Bearer {KEY}"}
    made = httpx.post(f"{keyed.base}/api/v1/screenshot", headers=headers, timeout=30,
                      json={"url": site.url("/pages/basic"), "async": False}).json()
    link = made["image_url"]
    assert httpx.get(link, timeout=30).status_code == 200
    other_digit = "1" if link.endswith("0") else "0"
    for changed in (link.replace("expires=", "expires=9"), link[:-1] + other_digit,
                    link.replace("o=key", "o=ip"), link.split("?")[0]):
        response = httpx.get(changed, timeout=30)
        assert response.status_code == 404, changed
    signed = httpx.post(f"{keyed.base}/api/v1/screenshot", headers=headers, timeout=30,
                        json={"url": site.url("/pages/basic?short"), "async": False,
                              "signed_link": True, "signed_link_expires_in": 60}).json()
    expires = int(signed["image_url"].split("expires=")[1].split("&")[0])
    assert 55 <= expires - time.time() <= 61  # the document's TTL, not the job's hour


def test_dialects_turns_faces_off():
    with serve_process({"DIALECTS": "004"}) as only_004:
        assert httpx.post(f"{only_004.base}/api/v1/screenshot", json={}).status_code == 404
        assert httpx.get(f"{only_004.base}/api/captures/cap_x").json()["error"]["code"] == \
            "NOT_FOUND"
        tags = {tag["name"] for tag in httpx.get(f"{only_004.base}/openapi.json").json()["tags"]}
        assert "Seed 004: sessionshot" in tags and "Seed 000: GoScreenAPI v1" not in tags


@pytest.mark.parametrize("store", ["local", "s3"])
def test_links_open_from_the_result_storage_after_the_job_is_gone(
        tmp_path: Path, site: Site, store: str, request: pytest.FixtureRequest):
    """With result storage (local, or a real S3 server) and jobs kept for one second, a 004
    link minted while the job was kept still opens once the job has expired: it is read from
    the store."""
    if store == "local":
        where = {"STORAGE_TYPE": "local", "LOCAL_STORAGE_PATH": str(tmp_path / "store")}
    else:
        where = request.getfixturevalue("s3").env(S3_PREFIX=f"faces-{time.monotonic_ns()}")
    env = {**ENV, **where, "JOB_TTL_SECONDS": "1"}
    headers = {"Authorization": f"Bearer {KEY}"}
    with serve_process(env) as running:
        made = httpx.post(f"{running.base}/api/captures", headers=headers, timeout=30,
                          json={"url": site.url("/pages/basic")}).json()
        read = _until(f"{running.base}/api/captures/{made['id']}", headers,
                      lambda body: body["status"] == "completed")
        link = read["result"]["url"]
        deadline = time.monotonic() + 30
        while httpx.get(f"{running.base}/api/captures/{made['id']}", headers=headers,
                        timeout=30).status_code != 404:
            assert time.monotonic() < deadline, "the job was never forgotten"
            time.sleep(0.3)
        image = httpx.get(link, timeout=30)
        assert image.status_code == 200 and decode(image.content).size == (1280, 800)


def test_a_face_s_job_and_link_on_another_replica(redis_server: RedisServer, site: Site):
    """Two replicas on one Redis: a 004 capture made on one is read on the other, through the
    face and through /jobs; the link minted on one opens on the other (the link secret is
    shared through Redis); a 000 webhook-less sync request waits across replicas."""
    env = {**ENV, "REDIS_URL": redis_server.url, "JOB_TTL_SECONDS": "7200"}
    headers = {"Authorization": f"Bearer {KEY}"}
    with serve_processes(2, env) as (first, second):
        made = httpx.post(f"{first.base}/api/captures", headers=headers, timeout=30,
                          json={"url": site.url("/pages/basic")}).json()
        read = _until(f"{second.base}/api/captures/{made['id']}", headers,
                      lambda body: body["status"] == "completed")
        job_id = made["id"].removeprefix("cap_").replace("-", "")
        assert httpx.get(f"{second.base}/jobs/{job_id}", headers=headers,
                         timeout=30).json()["status"] == "completed"
        image = httpx.get(read["result"]["url"].replace(second.base, first.base), timeout=30)
        assert image.status_code == 200 and decode(image.content).size == (1280, 800)
        made = httpx.post(f"{second.base}/api/v1/screenshot", headers=headers, timeout=60,
                          json={"url": site.url("/pages/basic?sync"), "async": False,
                                "signed_link": True}).json()
        assert made["status"] == "completed"
        assert httpx.get(made["image_url"].replace(second.base, first.base),
                         timeout=30).status_code == 200
        # signed_link's default hour, not the job's two, read back from Redis on the other
        polled = httpx.get(f"{first.base}/api/v1/screenshot/{made['request_id']}",
                           headers=headers, timeout=30).json()["request"]
        expires = int(polled["image_url"].split("expires=")[1].split("&")[0])
        assert 3500 <= expires - time.time() <= 3601


def _until(url: str, headers: dict[str, str], done: Any) -> Any:
    deadline = time.monotonic() + 60
    while True:
        body = httpx.get(url, headers=headers, timeout=30).json()
        if done(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)
