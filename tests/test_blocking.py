"""ADBLOCK_LISTS, the built-in lists, block_requests patterns and one capture's decisions."""

from __future__ import annotations

import pytest

from screenshotd.blocking import lists as blocking
from screenshotd.blocking.lists import ADS, TRACKERS, ListError, ListSource, RequestFilter
from screenshotd.http.app import create_app
from screenshotd.settings import SettingsError
from tests.support.servers import make_settings


def test_sources_default_to_the_builtin_lists():
    assert blocking.parse_sources([]) == [ListSource("ads", "builtin"),
                                          ListSource("trackers", "builtin")]
    assert blocking.parse_sources(["builtin:trackers"]) == [ListSource("trackers", "builtin")]


def test_sources_take_a_category_prefix(tmp_path):
    path = tmp_path / "privacy.txt"
    path.write_text("||t.example^\n")
    sources = blocking.parse_sources([f"trackers:{path}", "https://lists.example/easylist.txt",
                                      f"ads:{path}"])
    assert sources == [ListSource("trackers", str(path)),
                       ListSource("ads", "https://lists.example/easylist.txt"),
                       ListSource("ads", str(path))]
    # "trackers:https://…" keeps the URL whole
    assert blocking.parse_sources(["trackers:https://x.example/l.txt"]) == [
        ListSource("trackers", "https://x.example/l.txt")]


@pytest.mark.parametrize("entry, message", [
    ("/no/such/file.txt", "no filter-list file"),
    ("builtin:all", "builtin:ads or builtin:trackers"),
    ("ftp://x.example/list.txt", "file path or an http"),
    ("ads:", "names no file or URL"),
])
def test_bad_entries_are_named(entry, message):
    with pytest.raises(ListError, match=message):
        blocking.parse_sources([entry])


def test_a_bad_setting_stops_the_app_at_once():
    with pytest.raises(SettingsError, match="ADBLOCK_LISTS: no filter-list file at"):
        create_app(make_settings(adblock_lists=("/nonexistent/list.txt",)))


def test_builtin_lists_load_and_block_the_well_known_hosts():
    lists = blocking.load(blocking.parse_sources([]))
    assert [entry["name"] for entry in lists.report] == ["builtin:ads", "builtin:trackers"]
    assert all(entry["skipped"] == 0 for entry in lists.report)
    fl = lists.filters
    assert fl.match("https://securepubads.g.doubleclick.net/tag/js/gpt.js", "news.example",
                    1, ADS) is not None
    assert fl.match("https://www.googletagmanager.com/gtm.js?id=GTM-X", "news.example",
                    1, TRACKERS) is not None
    assert fl.match("https://www.googletagmanager.com/gtm.js?id=GTM-X", "news.example",
                    1, ADS) is None
    assert fl.match("https://cdn.news.example/app.js", "news.example", 1, ADS | TRACKERS) is None


def test_a_list_url_that_fails_is_left_out_and_reported():
    lists = blocking.load([ListSource("ads", "http://127.0.0.1:9/list.txt")], timeout=2)
    assert lists.report[0]["name"] == "ads:http://127.0.0.1:9/list.txt"
    assert "could not fetch" in lists.report[0]["error"]
    assert lists.filters.network_rules == 0


def test_block_requests_patterns():
    pattern = blocking.compile_patterns(("*.png", "tracker.example", "https://cdn.example/*"))
    assert pattern is not None
    assert pattern.match("http://x.org/a/b.png")
    assert not pattern.match("http://x.org/a/b.PNG")  # as written, as Chromium compares
    assert not pattern.match("http://x.org/a/b.png?x=1")  # "*" patterns match the whole URL
    assert pattern.match("http://a.tracker.example/x")  # no "*": anywhere in the URL
    assert pattern.match("https://cdn.example/lib.js")
    assert not pattern.match("https://cdn.example.org/lib.js")
    assert blocking.compile_patterns(()) is None
    # Regular-expression characters are literal.
    assert not blocking.compile_patterns(("a.c",)).match("http://x.org/abc")


def test_a_capture_never_blocks_its_own_document():
    lists = blocking.load(blocking.parse_sources([]))
    page = "https://ads.doubleclick.net/page"
    request_filter = RequestFilter(lists, ADS, ("*",), page)
    assert request_filter.decide(page, "document", None, main_document=True) is None
    assert request_filter.decide("https://x.org/a.js", "script", page) == "requests"
    assert request_filter.decide("data:image/png;base64,AA", "image", page) is None


def test_decisions_use_the_document_that_made_the_request():
    lists = blocking.load(blocking.parse_sources([]))
    request_filter = RequestFilter(lists, ADS | TRACKERS, (), "https://news.example/")
    assert request_filter.decide("https://pagead2.googlesyndication.com/x.js", "script",
                                 "https://news.example/") == "ads"
    assert request_filter.decide("https://connect.facebook.net/en_US/fbevents.js", "script",
                                 "https://news.example/") == "trackers"
    # connect.facebook.net is only blocked third-party: not on Facebook's own pages.
    assert request_filter.decide("https://connect.facebook.net/en_US/sdk.js", "script",
                                 "https://www.facebook.net/") is None
    assert request_filter.hiding_css().count("{display:none!important}") > 10


def test_a_document_exception_switches_the_page_off(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("||ads.example^\n@@||trusted.example^$document\n##.ad\n")
    lists = blocking.load([ListSource("ads", str(path))])
    trusted = RequestFilter(lists, ADS, (), "https://trusted.example/")
    assert not trusted.active and trusted.hiding_css() == ""
    other = RequestFilter(lists, ADS, (), "https://other.example/")
    assert other.decide("https://ads.example/x.js", "script", None) == "ads"


def paused(url: str, kind: str, frame: str = "main") -> dict:
    return {"requestId": "1", "request": {"url": url}, "resourceType": kind, "frameId": frame}


def test_paused_requests_from_chromium():
    lists = blocking.load(blocking.parse_sources([]))
    request_filter = RequestFilter(lists, ADS, ("*/blocked/*",), None)
    # The page's own document is never blocked, and names the page for third-party decisions.
    assert request_filter.paused(paused("https://ads.doubleclick.net/blocked/", "Document"),
                                 "main") is None
    assert request_filter.paused(paused("https://news.example/", "Document", "main"),
                                 "main") is None
    assert request_filter.paused(paused("https://ads.doubleclick.net/x.js", "Script"),
                                 "main") == "ads"
    # A frame's document is a subdocument, and can be blocked.
    assert request_filter.paused(paused("https://news.example/blocked/f.html", "Document",
                                        "frame-2"), "main") == "requests"
    # The browser's tab icon is neither blocked nor counted.
    assert request_filter.paused(paused("https://news.example/favicon.ico", "Other"),
                                 "main") is None
    assert request_filter.blocked == {"ads": 1, "requests": 1}
    assert request_filter.blocked_urls == ["https://ads.doubleclick.net/x.js",
                                           "https://news.example/blocked/f.html"]


def test_chromium_is_asked_only_for_what_may_be_blocked():
    lists = blocking.load(blocking.parse_sources([]))
    patterns = RequestFilter(lists, ADS, ("*.png", "a?b"), None).url_patterns()
    assert patterns[:2] == ["*.png", "*a\\?b*"]
    assert "*://*.doubleclick.net/*" in patterns and "*://doubleclick.net:*" in patterns
    assert not any("google-analytics" in p for p in patterns)  # a tracker host, not asked for
    assert RequestFilter(lists, 0, ("x",), None).url_patterns() == ["*x*"]
    # A list too big (or too irregular) to cover makes every request wait for a decision.
    regex = blocking.Blocklists()
    regex.filters.add_lines([r"/ad[0-9]+/"], ADS)
    assert RequestFilter(regex, ADS, (), None).url_patterns() == ["*"]
