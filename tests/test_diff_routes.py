"""Reading a diff request: sources, options, colours, and what the diff sets itself."""

from __future__ import annotations

from typing import Any

import pytest

from screenshotd import errors
from screenshotd.params.diff import parse_diff_request

PAGES = {"before": "https://a.example/", "after": "https://b.example/"}


def refused(params: dict[str, Any]) -> errors.ScreenshotError:
    with pytest.raises(errors.ScreenshotError) as caught:
        parse_diff_request(params)
    return caught.value


def test_defaults_are_pixelmatch_s() -> None:
    req = parse_diff_request(PAGES)
    assert req.sources == (("before", PAGES["before"]), ("after", PAGES["after"]))
    assert req.options.threshold == 0.1 and req.options.alpha == 0.1
    assert req.options.aa_color == (255, 255, 0) and req.options.diff_color == (255, 0, 0)
    assert req.options.diff_color_alt is None and not req.options.include_aa
    assert req.response_type == "image" and req.use_cache and req.capture == {}


@pytest.mark.parametrize("value", ["0,128,255", " 0, 128 ,255 ", "#0080ff", "0080FF",
                                   "[0, 128, 255]", [0, 128, 255]])
def test_colours_in_every_spelling(value: Any) -> None:
    assert parse_diff_request({**PAGES, "diff_color": value}).options.diff_color == (0, 128, 255)


@pytest.mark.parametrize("value", ["red", "256,0,0", "1,2", "1.5,2,3", [True, 0, 0], "#12345",
                                   "[1, 2", 7])
def test_bad_colours_name_the_field(value: Any) -> None:
    error = refused({**PAGES, "aa_color": value})
    assert isinstance(error, errors.ValidationError) and error.field == "aa_color"
    assert "aa_color: must be a colour" in error.message


def test_options_from_strings_and_json_values() -> None:
    req = parse_diff_request({**PAGES, "threshold": "0.25", "include_aa": "1", "alpha": 0,
                              "diff_mask": True, "diff_color_alt": "0,255,0",
                              "response_type": "base64", "cache": "false", "cache_ttl": "120",
                              "width": "800", "full_page": "true", "api_key": "k"})
    opts = req.options
    assert (opts.threshold, opts.include_aa, opts.alpha, opts.diff_mask) == (0.25, True, 0, True)
    assert opts.diff_color_alt == (0, 255, 0)
    assert req.response_type == "base64" and not req.use_cache and req.cache_ttl == 120
    # capture parameters, and cache settings, go to both captures; the key does not
    assert req.capture == {"width": "800", "full_page": "true", "cache": False, "cache_ttl": 120}


def test_each_side_needs_exactly_one_source() -> None:
    missing = refused({"image1": "AAAA"})
    assert missing.field == "image2" and "image2, job_id_2, cache_key_2 or after" in missing.message
    both = refused({**PAGES, "image1": "AAAA"})
    assert both.field == "before" and "give one" in both.message
    mixed = parse_diff_request({"job_id_1": "a" * 32, "after": PAGES["after"]})
    assert [kind for kind, _ in mixed.sources] == ["job_id_1", "after"]


@pytest.mark.parametrize(("params", "field"), [
    ({"threshold": "1.5"}, "threshold"),
    ({"threshold": "nan"}, "threshold"),
    ({"threshold": True}, "threshold"),
    ({"alpha": "-1"}, "alpha"),
    ({"include_aa": "yes please"}, "include_aa"),
    ({"response_type": "pdf"}, "response_type"),
    ({"cache_ttl": "10"}, "cache_ttl"),
    ({"format": "jpeg"}, "format"),
    ({"async": "true"}, "async"),
    ({"url": "https://c.example/"}, "url"),
    ({"webhook_url": "https://hook.example/"}, "webhook_url"),
])
def test_bad_values_name_their_field(params: dict[str, Any], field: str) -> None:
    error = refused({**PAGES, **params})
    assert isinstance(error, errors.ValidationError) and error.field == field


def test_format_png_is_what_the_diff_does_anyway() -> None:
    assert parse_diff_request({**PAGES, "format": "PNG"}).capture == {}


def test_capture_parameters_need_a_page_and_typos_get_a_suggestion() -> None:
    uploads = {"image1": "AAAA", "image2": "AAAA"}
    no_page = refused({**uploads, "width": "800"})
    assert no_page.field == "width" and "captures no page" in no_page.message
    typo = refused({**uploads, "diff_colour": "0,0,0"})
    assert typo.field == "diff_colour" and "did you mean 'diff_color'?" in typo.message
