"""CaptureOptions: parsing, aliases, bounds, and the equivalences the cache key relies on."""

from __future__ import annotations

import base64

import pytest

from screenshotd import errors
from screenshotd.params.capture import (
    CACHE_FORMAT_VERSION,
    KEYED_FIELDS,
    KNOWN_PARAMS,
    CaptureOptions,
    Device,
    ParseLimits,
)
from screenshotd.params.delivery import DeliveryOptions
from screenshotd.params.values import split_top_level

URL = "https://example.com/page"


def parse(**params):
    return CaptureOptions.parse({"url": URL, **params})


def test_defaults():
    opts = parse()
    assert (opts.width, opts.height, opts.device_scale_factor) == (1280, 800, 1)
    assert opts.format == "png" and opts.quality == 80 and opts.timeout == 30000
    assert opts.media_type == "screen" and opts.wait_until == "load"
    assert opts.context_options() == {}


def test_query_strings_and_json_types_parse_identically():
    query = {"url": URL, "width": "640", "full_page": "1", "device_scale_factor": "2",
             "headers": '{"X-A": "b"}', "hide_selectors": ".a,.b", "dark_mode": "true",
             "cookies": '[{"name": "n", "value": "v", "domain": "example.com"}]'}
    body = {"url": URL, "width": 640, "full_page": True, "device_scale_factor": 2,
            "headers": {"X-A": "b"}, "hide_selectors": [".a", ".b"], "dark_mode": True,
            "cookies": [{"name": "n", "value": "v", "domain": "example.com"}]}
    assert CaptureOptions.parse(query) == CaptureOptions.parse(body)
    assert CaptureOptions.parse(query).cache_key() == CaptureOptions.parse(body).cache_key()


@pytest.mark.parametrize(
    "a, b",
    [
        ({"format": "jpg"}, {"format": "jpeg"}),
        ({"css": "a{}"}, {"styles": "a{}"}),
        ({"js": "1"}, {"scripts": "1"}),
        ({"theme": "dark"}, {"dark_mode": "true"}),
        ({"theme": "light"}, {}),
        ({"wait_for": "#x"}, {"wait_for_selector": "#x"}),
        ({"wait_for": "500"}, {"delay": 500}),
        ({"width": 1280, "height": 800}, {}),
        ({"device": "desktop"}, {}),
        ({"device": "Mobile"}, {"device": "mobile"}),
        ({"timeout": 30000}, {}),
        ({"wait_until": "networkidle"}, {"wait_until": "networkidle0"}),
        ({"response_type": "json", "download": True, "cache": False}, {}),
        ({"response_type": "base64", "cache_ttl": 120}, {"cache": "true"}),
        ({"async": "true", "webhook_url": "https://hooks.example.com/x",
          "webhook_secret": "s"}, {}),
        ({"quality": 10}, {}),  # quality does not change a png
        ({"format": "jpg", "quality": 80}, {"format": "jpeg"}),
        ({"block_cookies": "true"}, {"block_cookie_banners": "1"}),
        ({"full_page": "1", "width": "800"}, {"width": 800, "full_page": True}),
        ({"device_scale_factor": "1", "dark_mode": "false", "delay": "0"}, {}),
    ],
)
def test_equivalent_requests_share_a_key(a, b):
    assert parse(**a).cache_key() == parse(**b).cache_key()


@pytest.mark.parametrize(
    "a, b",
    [
        ({}, {"full_page": True}),
        ({"format": "jpeg", "quality": 10}, {"format": "jpeg"}),
        ({"format": "png"}, {"format": "webp"}),
        ({}, {"url": URL + "?x=1"}),
        ({}, {"dark_mode": True}),
        ({}, {"width": 1281}),
        ({"timeout": 5000}, {}),
        ({"headers": {"X-A": "1"}}, {"headers": {"X-A": "2"}}),
    ],
)
def test_different_output_different_key(a, b):
    assert parse(**a).cache_key() != parse(**b).cache_key()


def test_the_key_covers_the_render_options_and_nothing_else():
    """Render options are keyed and delivery options are not, by the class each is declared
    in; and a key once given does not change unless CACHE_FORMAT_VERSION does (entries in a
    shared Redis outlive a deploy)."""
    assert set(DeliveryOptions.model_fields) == {
        "response_type", "cache", "cache_ttl", "async_", "webhook_url", "webhook_secret",
        "download", "store", "signed_link", "signed_link_expires_in", "client_metadata"}
    assert KEYED_FIELDS.isdisjoint(DeliveryOptions.model_fields)
    assert {"url", "full_page", "format", "block_ads", "actions"} <= KEYED_FIELDS
    assert CACHE_FORMAT_VERSION == 3 and parse(
        full_page="true", format="webp", response_type="json").cache_key() == (
        "1c947278d5930fe826e6796c151f12588054e934316f765982ce7bf0564212c3")


def test_unknown_parameter_suggests_the_right_name():
    with pytest.raises(errors.ValidationError) as info:
        parse(fullpage="true")
    assert info.value.field == "fullpage" and "full_page" in info.value.message


def test_auth_names_are_known_but_not_options():
    opts = parse(api_key="k", signature="s", expires="1")
    assert opts == parse()
    assert {"api_key", "signature", "expires"} <= KNOWN_PARAMS


def test_alias_and_name_together_is_an_error():
    with pytest.raises(errors.ValidationError) as info:
        parse(css="a{}", styles="b{}")
    assert info.value.field in ("css", "styles")


@pytest.mark.parametrize("value, expected", [("true", True), ("1", True), ("FALSE", False),
                                              ("0", False), (True, True), (0, False)])
def test_booleans(value, expected):
    assert parse(full_page=value).full_page is expected


@pytest.mark.parametrize("value", ["yes", "on", "2", "", "tru"])
def test_bad_booleans(value):
    with pytest.raises(errors.ValidationError) as info:
        parse(full_page=value)
    assert info.value.field == "full_page"


@pytest.mark.parametrize(
    "field, value",
    [("width", 99), ("width", 4001), ("height", 50), ("device_scale_factor", 0.5),
     ("quality", 101), ("delay", -1), ("timeout", 60001), ("clip_width", -1),
     ("image_width", 9000), ("geolocation_accuracy", -1), ("cache_ttl", 59),
     ("cache_ttl", 2592001), ("styles", "x" * (64 * 1024 + 1))],
)
def test_bounds(field, value):
    with pytest.raises(errors.ValidationError) as info:
        parse(**{field: value})
    assert info.value.field == field


def test_timeout_bound_follows_the_server():
    limits = ParseLimits(screenshot_timeout_ms=10000)
    with pytest.raises(errors.ValidationError) as info:
        CaptureOptions.parse({"url": URL, "timeout": 20000}, limits)
    assert info.value.field == "timeout" and "10000" in info.value.message
    assert CaptureOptions.parse({"url": URL}, limits).timeout == 10000


def test_limits_on_collections():
    with pytest.raises(errors.ValidationError):
        parse(headers={f"X-{i}": "v" for i in range(21)})
    with pytest.raises(errors.ValidationError):
        parse(cookies=[{"name": f"c{i}", "value": "v", "domain": "a.com"} for i in range(51)])
    with pytest.raises(errors.ValidationError) as info:
        parse(headers={"Bad Header": "v"})
    assert info.value.field == "headers"
    with pytest.raises(errors.ValidationError):
        parse(headers={"X-A": "line\r\nbreak"})


@pytest.mark.parametrize("url", ["ftp://a.com", "file:///etc/passwd", "a.com", "http://",
                                 "https://exa mple.com", "http://a.com:99999/"])
def test_invalid_urls(url):
    with pytest.raises(errors.InvalidURL):
        CaptureOptions.parse({"url": url})


def test_exactly_one_source():
    with pytest.raises(errors.ValidationError):
        CaptureOptions.parse({})
    with pytest.raises(errors.ValidationError):
        CaptureOptions.parse({"url": URL, "html": "<p>"})


def test_html_base64_decodes_to_html():
    html = "<h1>héllo</h1>"
    for encoder in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encoder(html.encode()).decode().rstrip("=")
        opts = CaptureOptions.parse({"html_base64": encoded})
        assert opts.html == html
        assert opts.cache_key() == CaptureOptions.parse({"html": html}).cache_key()
    with pytest.raises(errors.ValidationError):
        CaptureOptions.parse({"html_base64": "***"})


def test_html_size_limit_is_413():
    with pytest.raises(errors.PayloadTooLarge):
        CaptureOptions.parse({"html": "x" * (2 * 1024 * 1024 + 1)})


def test_devices():
    mobile = parse(device="mobile")
    assert (mobile.width, mobile.height, mobile.device_scale_factor) == (390, 844, 3)
    assert mobile.context_options()["is_mobile"] is True
    assert "Mobile" in mobile.context_options()["user_agent"]
    tablet = parse(device="tablet", width=1000)
    assert (tablet.width, tablet.height, tablet.device_scale_factor) == (1000, 1024, 2)
    pixel = Device("Pixel 7", 412, 839, 2.625, True, True, "UA")
    limits = ParseLimits(devices={"pixel 7": pixel})
    opts = CaptureOptions.parse({"url": URL, "device": "pixel 7"}, limits)
    assert opts.device == "Pixel 7" and opts.width == 412
    with pytest.raises(errors.ValidationError) as info:
        parse(device="Pixel 7")  # not known without the device table
    assert info.value.field == "device"


def test_context_options_only_for_context_level_settings():
    assert parse(width=500, dark_mode=True, headers={"A": "b"}, delay=10).context_options() == {}
    assert parse(locale="de-DE").context_options() == {"locale": "de-DE"}
    assert parse(timezone="Europe/Berlin").context_options() == {"timezone_id": "Europe/Berlin"}
    assert parse(viewport_mobile=True).context_options() == {"is_mobile": True, "has_touch": True}


def test_pdf_defaults_to_print_media():
    assert parse(format="pdf").media_type == "print"
    assert parse(format="pdf", media_type="screen").media_type == "screen"


def test_pairs_that_go_together():
    with pytest.raises(errors.ValidationError):
        parse(geolocation_latitude=1)
    with pytest.raises(errors.ValidationError):
        parse(clip_width=10)
    assert parse(clip_width=10, clip_height=20).clip == {"x": 0, "y": 0, "width": 10, "height": 20}


def test_selector_lists_keep_commas_inside_brackets():
    assert split_top_level(":is(a, b), .c[data-x='1,2'] , d") == [":is(a, b)", ".c[data-x='1,2']", "d"]


def test_webhook_parameters_go_together():
    with pytest.raises(errors.ValidationError) as refused:
        parse(webhook_url="https://hooks.example/x")
    assert refused.value.field == "webhook_url"
    with pytest.raises(errors.ValidationError) as refused:
        parse(**{"async": "true", "webhook_secret": "k"})
    assert refused.value.field == "webhook_secret"
    with pytest.raises(errors.InvalidURL) as refused:
        parse(**{"async": "true", "webhook_url": "javascript:alert(1)"})
    assert refused.value.field == "webhook_url"
    opts = parse(**{"async": "1", "webhook_url": " HTTPS://hooks.example/a b", "webhook_secret": "k"})
    assert opts.async_ and opts.webhook_url == "https://hooks.example/a%20b"
    assert opts.cache_key() == parse().cache_key()  # delivery only: the same capture


@pytest.mark.parametrize(("params", "get", "expected"), [
    ({}, True, "redirect"),
    ({}, False, "image"),
    ({"redirect": "false"}, True, "json"),
    ({"redirect": False}, False, "json"),
    ({"redirect": "false", "response_type": "image"}, True, "image"),
    ({"redirect": "false", "responseType": "base64"}, True, "base64"),
    ({"response_type": "json"}, True, "json"),
    ({"redirect": "true"}, False, "redirect"),
    ({"redirect": "true", "response_type": "json"}, True, "redirect"),
])
def test_how_an_og_image_is_answered(params: dict[str, object], get: bool, expected: str):
    from screenshotd.params.og import OgOptions, answer
    assert answer(OgOptions.parse({"title": "t", **params}), get=get) == expected


def test_an_outline_turns_tagging_on_and_keys_as_both():
    alone = CaptureOptions.parse({"html": "<h1>x</h1>", "format": "pdf", "pdf_outline": "true"})
    both = CaptureOptions.parse({"html": "<h1>x</h1>", "format": "pdf", "pdf_outline": "true",
                                 "pdf_tagged": "true"})
    assert alone.pdf_tagged and alone.cache_key() == both.cache_key()
