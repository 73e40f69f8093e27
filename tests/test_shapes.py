"""The request shapes of the APIs screenshotd replaces: camelCase names, their aliases, and the
nested body. Each must give the same options and the same cache key as the canonical form, and
two spellings of one option at once is a 400 that names one of them."""

from __future__ import annotations

from typing import Any

import pytest

from screenshotd import errors
from screenshotd.params.batch import parse_batch
from screenshotd.params.capture import KNOWN_PARAMS, CaptureOptions
from screenshotd.params.diff import parse_diff_request
from screenshotd.params.names import snake_case
from screenshotd.params.shapes import flatten

URL = "https://example.com/page"
COOKIE = {"name": "n", "value": "v", "domain": "example.com"}

CANONICAL: dict[str, Any] = {
    "url": URL, "format": "jpeg", "full_page": True, "width": 800, "height": 600,
    "quality": 70, "wait_until": "networkidle2", "device_scale_factor": 2,
    "cookies": [COOKIE], "local_storage": {"k": "v"}, "headers": {"X-A": "1"},
    "redact": [".email"], "redact_mode": "blur",
    "actions": [{"type": "wait_for_selector", "selector": "#app"}],
    "scripts": "document.title = 'x'", "block_cookie_banners": True,
}

SHAPES: dict[str, dict[str, Any]] = {
    # the hosted APIs that speak camelCase, with their names for the viewport and scripts
    "flat camelCase": {
        "url": URL, "format": "jpeg", "fullPage": True, "viewportWidth": 800,
        "viewportHeight": 600, "quality": 70, "waitUntil": "networkidle2",
        "deviceScaleFactor": 2, "cookies": [COOKIE], "localStorage": {"k": "v"},
        "headers": {"X-A": "1"}, "redact": [".email"], "redactMode": "blur",
        "actions": [{"type": "waitForSelector", "selector": "#app"}],
        "js_scenario": "document.title = 'x'", "blockCookieBanners": True,
    },
    # the capture platform's nested body
    "nested": {
        "url": URL,
        "output": {"format": "jpeg", "fullPage": True, "width": 800, "height": 600,
                   "quality": 70},
        "auth": {"cookies": [COOKIE], "localStorage": {"k": "v"}, "headers": {"X-A": "1"}},
        "redaction": {"selectors": [".email"], "mode": "blur"},
        "actions": [{"type": "waitForSelector", "selector": "#app"}],
        "waitUntil": "networkidle2", "deviceScaleFactor": 2, "js": "document.title = 'x'",
        "block_cookies": True, "metadata": {"order": 42},
    },
    # snake_case with the aliases some of them use
    "snake_case aliases": {
        "url": URL, "format": "jpg", "full_page": "true", "viewport_width": "800",
        "viewport_height": "600", "quality": "70", "wait_until": "networkidle2",
        "device_scale_factor": "2", "cookies": [COOKIE], "local_storage": {"k": "v"},
        "headers": '{"X-A": "1"}', "redact": ".email", "redact_mode": "blur",
        "actions": [{"type": "wait_for_selector", "selector": "#app"}],
        "js": "document.title = 'x'", "block_cookies": "1",
    },
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_shape_gives_the_canonical_capture_and_key(shape: str):
    canonical = CaptureOptions.parse(CANONICAL)
    opts = CaptureOptions.parse(flatten(SHAPES[shape]))
    assert opts.cache_key() == canonical.cache_key()
    keyed = {name: getattr(opts, name) for name in CANONICAL}
    assert keyed == {name: getattr(canonical, name) for name in CANONICAL}


def test_the_nested_metadata_object_is_the_caller_s_own_and_not_keyed():
    opts = CaptureOptions.parse(flatten(SHAPES["nested"]))
    assert opts.client_metadata == {"order": 42} and opts.metadata is False
    assert CaptureOptions.parse(flatten({"url": URL, "metadata": True})).metadata is True
    with pytest.raises(errors.ValidationError) as raised:
        CaptureOptions.parse(flatten({"url": URL, "metadata": {"x": "y" * 2000}}))
    assert raised.value.field == "client_metadata" and "1024" in raised.value.message


@pytest.mark.parametrize("name", sorted(n for n in KNOWN_PARAMS if "_" in n and n != "async_"))
def test_every_parameter_has_a_camel_case_form(name: str):
    camel = name.split("_")[0] + "".join(part.title() for part in name.split("_")[1:])
    assert snake_case(camel) == name


@pytest.mark.parametrize(("params", "fields"), [
    ({"fullPage": True, "full_page": True}, {"fullPage", "full_page"}),
    ({"viewportWidth": 800, "width": 800}, {"viewportWidth", "width"}),
    ({"callbackUrl": "https://h.example/", "webhook_url": "https://h.example/",
      "async": True}, {"callbackUrl", "webhook_url"}),
    ({"js_scenario": "1", "scripts": "2"}, {"js_scenario", "scripts"}),
    ({"output": {"fullPage": True}, "full_page": True}, {"output.fullPage"}),
    ({"output": {"fullPage": True}, "fullPage": True}, {"output.fullPage"}),
    ({"output": {"colour": "red"}}, {"output.colour"}),
])
def test_two_spellings_of_one_option_are_a_400_naming_one(params: dict[str, Any],
                                                           fields: set[str]):
    with pytest.raises(errors.ValidationError) as raised:
        CaptureOptions.parse(flatten({"url": URL, **params}))
    assert raised.value.field in fields, raised.value


def test_the_batch_takes_camel_case_and_a_callback_for_the_whole_batch():
    parsed = parse_batch({"urls": [URL], "responseType": "json", "callbackUrl":
                          "https://hooks.example/batch", "webhookSecret": "s", "fullPage": True},
                         CaptureOptions.parse)
    assert parsed.response_type == "json" and parsed.callback_url == "https://hooks.example/batch"
    assert parsed.callback_secret == "s"
    [item] = parsed.items
    assert isinstance(item, CaptureOptions) and item.full_page and item.webhook_url is None
    with pytest.raises(errors.ValidationError) as raised:
        parse_batch({"requests": [{"url": URL, "callback_url": "https://h.example/"}]},
                    CaptureOptions.parse)
    assert raised.value.field == "requests[0].callback_url"


def test_the_diff_takes_request_ids_and_force():
    job_a, job_b = "a" * 32, "b" * 32
    diff = parse_diff_request({"request_id_1": job_a, "request_id_2": job_b, "force": "true"})
    assert diff.sources == (("job_id_1", job_a), ("job_id_2", job_b))
    assert diff.use_cache is False
    assert parse_diff_request({"job_id_1": job_a, "job_id_2": job_b}).use_cache is True
    with pytest.raises(errors.ValidationError) as raised:
        parse_diff_request({"request_id_1": job_a, "job_id_1": job_a, "job_id_2": job_b})
    assert raised.value.field == "request_id_1"
