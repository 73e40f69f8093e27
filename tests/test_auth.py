"""API keys on their own: reading the key from a request, checking it, masking it in logs."""

from __future__ import annotations

import logging

import pytest

from screenshotd.auth import KeyRing, MaskSecrets, key_id, mask_secrets, presented_key


def scope(headers: dict[str, str] | None = None, query: str = "") -> dict:
    return {"type": "http", "headers": [(k.lower().encode(), v.encode())
                                        for k, v in (headers or {}).items()],
            "query_string": query.encode()}


@pytest.mark.parametrize("request_scope", [
    scope({"X-Api-Key": "alpha"}),
    scope({"Authorization": "Bearer alpha"}),
    scope({"Authorization": "bearer   alpha "}),
    scope(query="url=https%3A%2F%2Fexample.com&api_key=alpha"),
])
def test_the_three_ways_to_send_a_key(request_scope):
    assert presented_key(request_scope) == "alpha"


def test_no_key_and_other_authorization_schemes():
    assert presented_key(scope()) is None
    assert presented_key(scope({"Authorization": "Basic YWxwaGE6"})) is None
    assert presented_key(scope(query="not_api_key=alpha")) is None


def test_a_keyring_names_a_caller_by_key_id_never_by_key():
    ring = KeyRing(("alpha", "beta"))
    assert ring.enabled
    assert ring.identify("alpha") == f"key:{key_id('alpha')}"
    assert ring.identify("beta") != ring.identify("alpha")
    assert "alpha" not in ring.identify("alpha")  # type: ignore[operator]
    for wrong in ("", None, "alph", "alphaa", "ALPHA", "alpha "):
        assert ring.identify(wrong) is None
    assert not KeyRing(()).enabled


def test_secrets_are_masked_in_logged_urls():
    assert mask_secrets("/screenshot?url=x&api_key=alpha&w=1") == "/screenshot?url=x&api_key=***&w=1"
    assert mask_secrets("/jobs?api_key=alpha") == "/jobs?api_key=***"
    assert mask_secrets("/jobs?API_KEY=alpha") == "/jobs?API_KEY=***"
    assert mask_secrets("/x?not_api_key=1") == "/x?not_api_key=1"
    assert (mask_secrets("/screenshot?async=1&webhook_secret=s3&webhook_url=u")
            == "/screenshot?async=1&webhook_secret=***&webhook_url=u")
    # uvicorn's access record: (client, method, path with query, http version, status)
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/screenshot?api_key=alpha", "1.1", 200),
                               None)
    assert MaskSecrets().filter(record)
    assert "alpha" not in record.getMessage() and "api_key=***" in record.getMessage()
