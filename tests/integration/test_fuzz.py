"""Property-based fuzzing of what a caller sends, against a real ``screenshotd serve``: random
JSON of any type and depth as POST bodies, random query strings over the known parameters, huge
and non-finite numbers, lone surrogates and control characters. Whatever it is, the answer is
never a 5xx, and the server is at rest afterwards.

Seeded (``derandomize``) and bounded, so a run takes well under a minute and fails the same way
every time it fails.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from screenshotd.params.capture import KNOWN_PARAMS
from tests.support.servers import ServeProcess, serve_process

FUZZ = settings(max_examples=150, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: Any text: control characters, lone surrogates (in JSON they travel as \ud800 escapes) and
#: characters from every plane.
TEXT = st.text(st.characters(codec=None, categories=None), max_size=40)
NUMBERS = st.one_of(
    st.integers(min_value=-(10 ** 40), max_value=10 ** 40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e308, -1e308, 5e-324, 2 ** 63, 2 ** 64 + 1]),
)
LEAVES = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JSON_VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(TEXT, inner, max_size=5)),
    max_leaves=30,
)
NAMES = st.one_of(st.sampled_from(sorted(KNOWN_PARAMS)), TEXT)
#: Objects whose keys are mostly the service's own parameter names, so validation goes deep.
BODIES = st.one_of(
    st.dictionaries(NAMES, JSON_VALUES, max_size=8),
    JSON_VALUES,
    st.integers(min_value=1, max_value=3000).map(lambda n: "[" * n + "]" * n),
)
#: Query values: any text a URL can carry (no surrogates: they have no UTF-8).
QUERY_TEXT = st.text(st.characters(codec="utf-8"), max_size=60)
QUERIES = st.dictionaries(NAMES.filter(lambda n: n.encode("utf-8", "ignore") == n.encode(
    "utf-8", "surrogatepass")), st.one_of(QUERY_TEXT, NUMBERS.map(str)), max_size=8)


@pytest.fixture(scope="module")
def served() -> Iterator[ServeProcess]:
    with serve_process({"MAX_REQUESTS_PER_MINUTE": "0", "LOG_LEVEL": "error"}) as running:
        yield running


@pytest.fixture(scope="module")
def client(served: ServeProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.base, timeout=60) as http:
        yield http


def encode(body: Any) -> bytes:
    """JSON text as a client might send it: NaN and Infinity as bare words, surrogates as
    escapes, a deep nest as it is."""
    if isinstance(body, str) and body.startswith("["):
        return body.encode()
    return json.dumps(body, allow_nan=True).encode()


def assert_not_5xx(response: httpx.Response) -> None:
    assert response.status_code < 500 or (
        response.status_code == 503 and response.json()["error"] == "POOL_EXHAUSTED"
    ), (response.request.method, str(response.request.url)[:300], response.text[:500])


@FUZZ
@given(body=BODIES, path=st.sampled_from(["/screenshot", "/batch", "/diff"]))
def test_no_post_body_gets_a_5xx(client: httpx.Client, body: Any, path: str):
    response = client.post(path, content=encode(body),
                           headers={"content-type": "application/json"})
    assert_not_5xx(response)


@FUZZ
@given(query=QUERIES, path=st.sampled_from(["/screenshot", "/diff", "/jobs"]))
def test_no_query_string_gets_a_5xx(client: httpx.Client, query: dict[str, str], path: str):
    query = {k: v for k, v in query.items() if k != "async"}  # a job could outlive the test
    response = client.get(path, params=query)
    assert_not_5xx(response)


def test_the_server_is_at_rest_after_the_fuzzing(client: httpx.Client):
    health = client.get("/health")
    assert health.status_code == 200
    pool = health.json()["pool"]
    assert pool["waiting"] == 0 and not math.isnan(pool["capture_s"])
