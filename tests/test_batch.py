"""Reading POST /batch bodies: the two forms, shared parameters, and where errors land."""

from __future__ import annotations

import pytest

from screenshotd import errors
from screenshotd.params.batch import MAX_ITEMS, parse_batch
from screenshotd.params.capture import CaptureOptions


def parse(body):
    return parse_batch(body, CaptureOptions.parse)


def test_urls_with_shared_parameters():
    got = parse({"urls": ["https://a.example", "https://b.example"], "width": 800,
                 "format": "jpeg"})
    assert not got.async_
    assert [o.url for o in got.items] == ["https://a.example", "https://b.example"]
    assert all(o.width == 800 and o.format == "jpeg" for o in got.items)


def test_requests_override_shared_parameters():
    got = parse({"requests": [{"url": "https://a.example"},
                              {"url": "https://b.example", "width": 500}],
                 "width": 800, "async": "true"})
    assert got.async_
    assert [o.width for o in got.items] == [800, 500]
    assert all(o.async_ for o in got.items)


def test_a_bad_item_is_that_items_error_and_the_rest_still_parse():
    got = parse({"urls": ["https://a.example", "ftp://b.example", 7, "https://c.example"]})
    assert isinstance(got.items[0], CaptureOptions)
    assert isinstance(got.items[1], errors.InvalidURL)
    assert isinstance(got.items[2], errors.ValidationError) and got.items[2].field == "urls[2]"
    assert isinstance(got.items[3], CaptureOptions)
    assert got.urls == ["https://a.example", "ftp://b.example", None, "https://c.example"]


def test_an_invalid_parameter_in_one_request_names_its_field():
    got = parse({"requests": [{"url": "https://a.example", "width": 99999}]})
    assert isinstance(got.items[0], errors.ValidationError)
    assert got.items[0].field == "width"


@pytest.mark.parametrize("body, field", [
    ({}, "requests"),
    ({"urls": [], }, "urls"),
    ({"urls": "https://a.example"}, "urls"),
    ({"urls": ["https://a.example"], "requests": [{"url": "https://b.example"}]}, "requests"),
    ({"urls": ["https://a.example"] * (MAX_ITEMS + 1)}, "urls"),
    ({"requests": [{"url": "https://a.example", "async": True}]}, "requests[0].async"),
    ({"urls": ["https://a.example"], "async": "maybe"}, "async"),
])
def test_a_body_of_the_wrong_shape_is_one_400(body, field):
    with pytest.raises(errors.ValidationError) as refused:
        parse(body)
    assert refused.value.field == field


def test_fifty_items_are_allowed():
    assert len(parse({"urls": ["https://a.example"] * MAX_ITEMS}).items) == MAX_ITEMS


def test_a_webhook_needs_an_async_batch():
    got = parse({"urls": ["https://a.example"], "webhook_url": "https://hooks.example/x"})
    assert isinstance(got.items[0], errors.ValidationError)
    assert got.items[0].field == "webhook_url"
