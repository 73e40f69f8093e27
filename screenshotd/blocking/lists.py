"""What a capture blocks, and where that meets Chromium's requests.

- **Filter lists** (``block_ads``, ``block_trackers``): EasyList-syntax lists loaded once at
  start into one :class:`~screenshotd.blocking.engine.FilterList`. Each list counts as *ads* or
  *trackers*. ``ADBLOCK_LISTS`` names them; without it the built-in lists in
  ``screenshotd/filterlists/`` are used, so blocking works with no configuration.
- **``block_requests``**: the caller's own ``*`` wildcard patterns.
- **:class:`RequestFilter`**: one capture's decisions. Chromium pauses each request of the
  capture's page (CDP ``Fetch``, on a session of our own: Playwright's ``page.route`` costs
  about 2.5 ms a request here, a raw session 0.3 ms); the filter lets the page's own document
  through, fails what the lists or patterns match, and counts it. A decision costs
  microseconds, so it runs on the event loop: a thread hop would cost more than the decision.

``ADBLOCK_LISTS`` is a comma-separated list of entries, each one of:

- ``builtin`` (both built-in lists), ``builtin:ads`` or ``builtin:trackers``;
- a file path or an ``http(s)`` URL, optionally prefixed ``ads:`` or ``trackers:`` to say what
  it blocks (``ads`` when no prefix is given).

A file that cannot be read stops the start with an error naming it. A URL that cannot be fetched
is logged and left out, and ``/health`` shows it, so a server whose list host is down still
starts, with the lists it could get.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from screenshotd.blocking.engine import (
    DOCUMENT,
    ELEMHIDE,
    GENERICHIDE,
    OTHER,
    RESOURCE_TYPES,
    SUBDOCUMENT,
    FilterList,
    registrable_domain,
    url_host,
)

log = logging.getLogger(__name__)

ADS = 1
TRACKERS = 2
CATEGORIES = {"ads": ADS, "trackers": TRACKERS}

#: How long a list URL may take to download at start, and its largest size.
FETCH_TIMEOUT_S = 30.0
MAX_LIST_BYTES = 32 * 1024 * 1024

BUILTIN = {"ads": "ads.txt", "trackers": "trackers.txt"}
_FAVICON = re.compile(r"^https?://[^/?#]+/favicon\.ico(?:$|[?#])", re.IGNORECASE)
#: Blocked URLs remembered per capture, to collapse the elements that showed them.
MAX_COLLAPSED = 500


class ListError(ValueError):
    """An ``ADBLOCK_LISTS`` entry that cannot be used; the message names it."""


@dataclass(frozen=True)
class ListSource:
    category: str  # "ads" or "trackers"
    location: str  # "builtin", a file path or an http(s) URL

    @property
    def name(self) -> str:
        if self.location == "builtin":
            return f"builtin:{self.category}"
        return f"{self.category}:{self.location}"


def parse_sources(entries: Iterable[str]) -> list[ListSource]:
    """``ADBLOCK_LISTS`` entries as sources; an empty setting means the built-in lists."""
    sources: list[ListSource] = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        if entry == "builtin":
            sources += [ListSource("ads", "builtin"), ListSource("trackers", "builtin")]
            continue
        category = "ads"
        head, sep, rest = entry.partition(":")
        if sep and head in ("builtin", *CATEGORIES) and not rest.startswith("//"):
            if head == "builtin":
                if rest not in CATEGORIES:
                    raise ListError(f"{entry!r}: use builtin, builtin:ads or builtin:trackers")
                sources.append(ListSource(rest, "builtin"))
                continue
            category, entry = head, rest
        if not entry:
            raise ListError(f"{raw.strip()!r} names no file or URL")
        if not _is_url(entry):
            if "://" in entry:
                raise ListError(f"{entry!r}: a list is a file path or an http(s) URL")
            if not Path(entry).is_file():
                raise ListError(f"no filter-list file at {entry!r}")
        sources.append(ListSource(category, entry))
    if not sources:
        sources = [ListSource("ads", "builtin"), ListSource("trackers", "builtin")]
    return sources


@dataclass
class Blocklists:
    """The loaded lists: the engine, and what each source gave (for ``/health``)."""

    filters: FilterList = field(default_factory=FilterList)
    report: list[dict[str, Any]] = field(default_factory=list)

    def health(self) -> dict[str, Any]:
        return {"network_rules": self.filters.network_rules,
                "cosmetic_rules": sum(s.cosmetic for s in self.filters.lists),
                "lists": self.report}


def load(sources: Sequence[ListSource], timeout: float = FETCH_TIMEOUT_S) -> Blocklists:
    """Read and index every source. Blocking I/O and parsing: run it in a thread."""
    lists = Blocklists()
    for source in sources:
        try:
            text = _read(source, timeout)
        except ListError as exc:
            if _is_url(source.location):
                log.error("filter list %s left out: %s", source.name, exc)
                lists.report.append({"name": source.name, "error": str(exc)})
                continue
            raise
        stats = lists.filters.add_text(text, CATEGORIES[source.category], source.name)
        lists.report.append({"name": source.name, "network": stats.network,
                             "cosmetic": stats.cosmetic, "skipped": stats.skipped})
        log.info("filter list %s: %d network and %d cosmetic rules (%d skipped)",
                 source.name, stats.network, stats.cosmetic, stats.skipped)
    _warm(lists.filters)
    return lists


def _warm(filters: FilterList) -> None:
    """Do here, in the loading thread, what the first capture would otherwise do on the event
    loop: compile the page-level exceptions (58 ms for EasyList's 762), and build the shared
    hiding sheet and the URL patterns for every combination of lists."""
    filters.page_exemptions("https://warm-up.invalid/", ADS | TRACKERS)
    filters.hiding_css("", ADS)
    for categories in (ADS, TRACKERS, ADS | TRACKERS):
        filters.url_patterns(categories)


def _is_url(location: str) -> bool:
    return location.lower().startswith(("http://", "https://"))


def _read(source: ListSource, timeout: float) -> str:
    location = source.location
    if location == "builtin":
        return resources.files("screenshotd.blocking").joinpath(
            "filterlists", BUILTIN[source.category]).read_text("utf-8")
    if _is_url(location):
        try:
            import urllib.request  # only for a list given by URL

            request = urllib.request.Request(location, headers={"User-Agent": "screenshotd"})
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                data = response.read(MAX_LIST_BYTES + 1)
        except (OSError, ValueError) as exc:
            raise ListError(f"could not fetch {location}: {exc}") from None
        if len(data) > MAX_LIST_BYTES:
            raise ListError(f"{location} is over {MAX_LIST_BYTES // (1024 * 1024)} MB")
        return str(data.decode("utf-8", errors="replace"))
    try:
        return Path(location).read_text("utf-8", errors="replace")
    except OSError as exc:
        raise ListError(f"cannot read filter list {location!r}: {exc.strerror or exc}") from None


# --------------------------------------------------------------------------- block_requests


@lru_cache(maxsize=256)
def compile_patterns(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """``block_requests`` patterns as one regular expression on the whole URL.

    ``*`` matches any run of characters; everything else is literal, case included (as
    Chromium compares them). A pattern with no ``*`` matches any URL that contains it
    (``doubleclick.net``), one with ``*`` must match the whole URL (``*.png``,
    ``https://cdn.example.com/*``).
    """
    parts = [".*".join(re.escape(piece) for piece in _as_glob(p).split("*")) for p in patterns]
    if not parts:
        return None
    return re.compile("(?:" + "|".join(parts) + r")\Z", re.DOTALL)


def _as_glob(pattern: str) -> str:
    return pattern if "*" in pattern else f"*{pattern}*"


def chromium_patterns(patterns: Sequence[str]) -> list[str]:
    """``block_requests`` patterns as Chromium's ``Fetch`` URL patterns (``?`` and ``\\``
    escaped, since Chromium reads them as wildcards)."""
    return [re.sub(r"([?\\])", r"\\\1", _as_glob(p)) for p in patterns]


# --------------------------------------------------------------------------- one capture


class RequestFilter:
    """One capture's request decisions, and the counts of what they blocked.

    ``categories`` is the set of lists asked for (``ADS | TRACKERS``), ``block_requests`` the
    caller's own patterns, ``page_url`` the page (for third-party decisions and the lists'
    page-level exceptions). The page's own document is never blocked: a capture of an ad
    server's page shows that page.
    """

    def __init__(self, lists: Blocklists | None, categories: int,
                 block_requests: Sequence[str], page_url: str | None,
                 resource_types: Sequence[str] = ()) -> None:
        self.filters = lists.filters if lists is not None and categories else None
        #: ``block_resources``: the types refused (``image``, ``font``…; ``websocket`` is
        #: refused in the page, :func:`screenshotd.browser.steps.before_load`).
        self.resource_types = frozenset(resource_types)
        self.categories = categories
        self.block_requests = tuple(block_requests)
        self.patterns = compile_patterns(self.block_requests)
        self.blocked: Counter[str] = Counter()
        #: URLs blocked, so the elements that asked for them can be collapsed (bounded).
        self.blocked_urls: list[str] = []
        self._page_host = url_host(page_url) if page_url else ""
        exempt = (self.filters.page_exemptions(page_url, categories)
                  if self.filters is not None and page_url else 0)
        self._no_network = bool(exempt & DOCUMENT)
        self._no_hiding = bool(exempt & (DOCUMENT | ELEMHIDE))
        self._no_generic_hiding = bool(exempt & GENERICHIDE)

    @property
    def active(self) -> bool:
        return (self.patterns is not None or bool(self.resource_types)
                or (self.filters is not None and not self._no_network))

    def fetch_patterns(self) -> list[dict[str, str]]:
        """CDP ``Fetch.enable`` patterns: :meth:`url_patterns`, and every request of a type
        refused (Chromium matches the type itself). ``other`` is many types, not all of which
        Chromium's filter knows: it pauses every request, and the type is judged here."""
        types = [cdp for cdp, kind in CDP_RESOURCE_KINDS.items()
                 if kind in self.resource_types and kind != "other"]
        urls = self.url_patterns() if self.patterns is not None or self.filters is not None \
            else []
        if "other" in self.resource_types:
            urls, types = ["*"], []
        return ([{"urlPattern": pattern} for pattern in urls]
                + [{"urlPattern": "*", "resourceType": cdp} for cdp in types])

    def url_patterns(self) -> list[str]:
        """The requests Chromium should hand over for a decision (``Fetch`` URL patterns): a
        superset of everything this filter can block. Pausing a request costs a round trip to
        the browser (milliseconds here); a request no pattern matches costs nothing. Lists too
        large to cover (a full EasyList) make every request wait for its decision."""
        patterns = chromium_patterns(self.block_requests)
        if self.filters is not None and not self._no_network:
            covering = self.filters.url_patterns(self.categories)
            if covering is None:
                return ["*"]
            patterns += covering
        return patterns or ["*"]

    def decide(self, url: str, resource_type: str, doc_url: str | None,
               main_document: bool = False) -> str | None:
        """Why ``url`` is blocked (``"requests"``, ``"ads"`` or ``"trackers"``), or None."""
        if main_document or not url.startswith(("http:", "https:", "ws:", "wss:")):
            return None
        if self.resource_types and CDP_KINDS.get(resource_type, "other") in self.resource_types:
            return "resources"
        if self.patterns is not None and self.patterns.match(url):
            return "requests"
        if self.filters is None or self._no_network:
            return None
        kind = RESOURCE_TYPES.get(resource_type, OTHER)
        if kind == DOCUMENT:
            kind = SUBDOCUMENT
        doc_host = url_host(doc_url) if doc_url and "://" in doc_url else self._page_host
        rule = self.filters.match(url, doc_host, kind, self.categories,
                                  registrable_domain(doc_host))
        if rule is None:
            return None
        return "ads" if rule.category & ADS else "trackers"

    def paused(self, event: dict[str, Any], main_frame: str) -> str | None:
        """Decide a request Chromium paused (CDP ``Fetch.requestPaused``): why it is blocked,
        or None. Counts what it blocks. ``main_frame`` is the page's top frame id: its document
        is the page itself, never blocked, and its host is what third-party is judged against
        (for requests of frames within the page too)."""
        url = event["request"]["url"]
        resource_type = str(event.get("resourceType", "Other")).lower()
        if resource_type == "other" and _FAVICON.search(url):
            return None  # the browser's own tab icon, not a request of the page: never counted
        main_document = resource_type == "document" and event.get("frameId") == main_frame
        if main_document:
            self._page_host = url_host(url)
        reason = self.decide(url, resource_type, None, main_document)
        if reason is not None:
            self.blocked[reason] += 1
            if len(self.blocked_urls) < MAX_COLLAPSED:
                self.blocked_urls.append(url)
        return reason

    def hiding_css(self) -> str:
        """The cosmetic rules for the page, as a style sheet ('' when none apply)."""
        if self.filters is None or not self.categories & ADS or self._no_hiding:
            return ""
        return self.filters.hiding_css(self._page_host, ADS,
                                       generic=not self._no_generic_hiding)


#: CDP's resource types (``Network.ResourceType``) as ``block_resources`` names them; a document
#: (a frame's page) is never refused by type.
CDP_RESOURCE_KINDS = {
    "Image": "image", "Media": "media", "Font": "font", "Stylesheet": "stylesheet",
    "Script": "script", "XHR": "xhr", "Fetch": "fetch", "TextTrack": "other",
    "EventSource": "other", "Manifest": "other", "Ping": "other", "Prefetch": "other",
    "SignedExchange": "other", "CSPViolationReport": "other", "Other": "other",
}
CDP_KINDS = {cdp.lower(): kind for cdp, kind in CDP_RESOURCE_KINDS.items()}
