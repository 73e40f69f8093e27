"""An EasyList-syntax filter engine, indexed so that one decision costs microseconds.

adblockparser, the reference Python implementation, joins every rule into one large regular
expression and tries it on each URL: 14 to 17 ms per URL with a full EasyList, measured here
(``benchmarks/bench_filters.py``). A page makes a hundred requests, so that is seconds per
capture. This engine reads the same syntax and decides
in a few microseconds, because almost no rule is ever tried against a URL it cannot match:

- **host rules** (``||ads.example.com^``, with or without a path) sit in a dict keyed by their
  host. A URL looks up each suffix of its own host (``a.b.example.com``, ``b.example.com``,
  ``example.com``): a handful of dict lookups, however many such rules there are;
- **token rules**: every other rule is filed under one *token* of its pattern, a run of
  ``[a-z0-9%]`` that any URL it matches must contain as a whole token (``/ads/banner^`` is
  filed under ``ads``; ``banner`` followed by ``^`` is a whole token too). The rarest such token
  is chosen. A URL splits into its own tokens and tries only the rules filed under them;
- **domain rules**: a rule whose only tokens are common ones (``http``, ``com``) but which names
  its pages (``domain=a.com|b.org``) is filed under those domains, and tried only on their pages;
- the few rules left (``/_``, most ``/regex/`` rules) are tried on every URL.

Each candidate checks first that the URL contains its pattern's longest literal part (``in``, in
C), then its options (resource type, third-party, ``domain=``), and its pattern last. Patterns compile to regular expressions lazily, on first use, so
loading a list stays fast. A blocking match is then checked against the exception (``@@``) rules,
found the same way. ``$important`` rules ignore exceptions.

Supported options: the resource types (``script``, ``image``, ``stylesheet``, ``object``,
``xmlhttprequest``, ``subdocument``, ``media``, ``font``, ``websocket``, ``ping``, ``other``,
their ``~`` negations and the usual aliases), ``third-party``/``first-party`` (and ``~``),
``domain=``, ``match-case``, ``important``, ``collapse`` (ignored), and, on exceptions only,
``document``, ``elemhide`` and ``generichide``, which switch blocking or hiding off for a page.
A rule with any other option (``csp=``, ``rewrite=``, ``redirect=``, ``popup`` alone …) is
skipped, and counted in its list's :class:`ListStats`: a rule half understood could block the
wrong thing.

Cosmetic rules (``##selector``, ``example.com##selector``, ``example.com#@#selector``) become a
style sheet that hides what they select. Procedural and scriptlet rules (``#?#``, ``#$#``,
``:-abp-…``, ``:has-text(…)``) are skipped.

Third-party means a different registrable domain (eTLD+1, from the public suffix list), as
browsers' blockers judge it: ``cdn.example.co.uk`` is first-party to ``www.example.co.uk``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from publicsuffixlist import PublicSuffixList

from screenshotd.blocking.cosmetic import Cosmetic
from screenshotd.blocking.rules import (
    _COMMON_TOKENS,
    _TOKEN,
    DEFAULT_TYPES,
    DOCUMENT,
    ELEMHIDE,
    FONT,
    GENERICHIDE,
    IMAGE,
    MEDIA,
    OBJECT,
    OTHER,
    PAGE_TYPES,
    PING,
    POPUP,
    RESOURCE_TYPES,
    SCRIPT,
    STYLESHEET,
    SUBDOCUMENT,
    WEBSOCKET,
    XHR,
    NetworkRule,
    _pattern_tokens,
    domain_admits,
    host_suffixes,
    parse_network,
)

__all__ = [
    "DEFAULT_TYPES", "DOCUMENT", "ELEMHIDE", "FONT", "GENERICHIDE", "IMAGE", "MEDIA", "OBJECT",
    "OTHER", "PAGE_TYPES", "PING", "POPUP", "RESOURCE_TYPES", "SCRIPT", "STYLESHEET",
    "SUBDOCUMENT", "WEBSOCKET", "XHR", "Cosmetic", "FilterList", "ListStats", "NetworkRule",
    "domain_admits", "host_suffixes", "parse_network", "registrable_domain", "url_host",
]

# --------------------------------------------------------------------------- the engine


@dataclass
class ListStats:
    name: str
    category: int
    network: int = 0
    cosmetic: int = 0
    skipped: int = 0


@lru_cache(maxsize=1)
def _suffixes() -> PublicSuffixList:
    """The public suffix list, read on first use (reading it costs 30 ms: not at import)."""
    return PublicSuffixList()


@lru_cache(maxsize=16384)
def registrable_domain(host: str) -> str:
    """eTLD+1 of ``host`` (``www.bbc.co.uk`` → ``bbc.co.uk``); an IP or a bare suffix is
    itself."""
    if not host or host[-1].isdigit() or ":" in host:
        return host
    return _suffixes().privatesuffix(host) or host


class FilterList:
    """Network and cosmetic rules from any number of EasyList-syntax lists, indexed.

    Each list is loaded under a *category* bit (ads, trackers, …); a query names the
    categories it wants, so one index serves every combination.
    """

    def __init__(self) -> None:
        self._host_rules: dict[str, list[NetworkRule]] = defaultdict(list)
        self._token_rules: dict[str, list[NetworkRule]] = defaultdict(list)
        self._generic_rules: list[NetworkRule] = []
        self._host_exceptions: dict[str, list[NetworkRule]] = defaultdict(list)
        self._token_exceptions: dict[str, list[NetworkRule]] = defaultdict(list)
        self._generic_exceptions: list[NetworkRule] = []
        #: Rules with no distinctive token but a ``domain=`` list, filed under those domains.
        self._domain_rules: dict[str, list[NetworkRule]] = defaultdict(list)
        self._domain_exceptions: dict[str, list[NetworkRule]] = defaultdict(list)
        self._page_exceptions: list[NetworkRule] = []
        self.cosmetic = Cosmetic()
        self.lists: list[ListStats] = []
        self._pattern_memo: dict[tuple[int, int], list[str] | None] = {}

    # ------------------------------------------------------------------ loading

    def add_text(self, text: str, category: int, name: str = "list") -> ListStats:
        return self.add_lines(text.splitlines(), category, name)

    def add_lines(self, lines: Iterable[str], category: int, name: str = "list") -> ListStats:
        stats = ListStats(name, category)
        self._pattern_memo.clear()
        for raw in lines:
            line = raw.strip()
            if not line or line[0] == "!" or line[0] == "[":
                continue
            if "#" in line:
                cosmetic = _COSMETIC.match(line)
                if cosmetic is not None:
                    domains, marker, selector = cosmetic.groups()
                    if marker in ("##", "#@#") and self.cosmetic.add(
                            domains, selector.strip(), marker == "#@#", category):
                        stats.cosmetic += 1
                    else:
                        stats.skipped += 1
                    continue
            if "$$" in line or "$@$" in line:
                stats.skipped += 1  # HTML filtering
                continue
            rule = parse_network(line, category)
            if rule is None:
                stats.skipped += 1
                continue
            self._index(rule)
            stats.network += 1
        self.lists.append(stats)
        return stats

    def _index(self, rule: NetworkRule) -> None:
        if rule.page:
            self._page_exceptions.append(rule)
            if not rule.types:
                return
        if rule.host:
            (self._host_exceptions if rule.exception else self._host_rules)[rule.host].append(rule)
            return
        tokens = [] if rule.is_regex else _pattern_tokens(rule.pattern.lower())
        table = self._token_exceptions if rule.exception else self._token_rules
        usable = [t for t in tokens if len(t) > 1]
        best = min(usable, key=lambda t: (t in _COMMON_TOKENS, len(table.get(t, ())), -len(t)),
                   default=None)
        if (best is None or best in _COMMON_TOKENS) and rule.include:
            by_domain = self._domain_exceptions if rule.exception else self._domain_rules
            for domain in rule.include:
                by_domain[domain].append(rule)
        elif best is None:
            (self._generic_exceptions if rule.exception else self._generic_rules).append(rule)
        else:
            table[best].append(rule)

    @property
    def network_rules(self) -> int:
        return sum(s.network for s in self.lists)

    def url_patterns(self, categories: int, limit: int = 4000) -> list[str] | None:
        """Chromium URL patterns (``*`` wildcards) that every URL these categories' blocking
        rules can match also matches, so the browser need only hand over those requests; None
        when the rules cannot be covered in ``limit`` patterns (regular expressions, rules
        with no literal part, or just too many rules).

        A superset, not the decision: a request the patterns let through is never blocked, one
        they catch is decided here as usual. Hosts give ``*://host/*`` and ``*://*.host/*``
        (with and without a port), other rules ``*literal*`` with their longest literal.
        Chromium compares case-sensitively, so a URL that writes a rule's literal in capitals
        passes unchecked.
        """
        if (categories, limit) in self._pattern_memo:
            return self._pattern_memo[(categories, limit)]
        patterns: dict[str, None] = {}
        result: list[str] | None = None
        rules = [r for bucket in (*self._host_rules.values(), *self._token_rules.values(),
                                  *self._domain_rules.values(), self._generic_rules)
                 for r in bucket if r.category & categories]
        for rule in rules:
            if rule.host:
                host = _glob_escape(rule.host)
                for form in (f"*://{host}/*", f"*://*.{host}/*", f"*://{host}:*",
                             f"*://*.{host}:*"):
                    patterns[form] = None
            elif rule.literal and not rule.is_regex:
                patterns[f"*{_glob_escape(rule.literal)}*"] = None
            else:
                break
            if len(patterns) > limit:
                break
        else:
            result = list(patterns)
        self._pattern_memo[(categories, limit)] = result
        return result

    # ------------------------------------------------------------------ network decisions

    def match(self, url: str, doc_host: str, kind: int, categories: int,
              doc_domain: str | None = None) -> NetworkRule | None:
        """The rule that blocks a request, or None to let it through.

        ``url`` is the request's URL; ``doc_host`` the host of the document that made it;
        ``kind`` its resource-type bit; ``categories`` which lists apply. ``doc_domain`` (the
        document's registrable domain) may be given to save a lookup.
        """
        lower = url.lower()
        host = _url_host(lower)
        if not host:
            return None
        if doc_domain is None:
            doc_domain = registrable_domain(doc_host)
        third_party = registrable_domain(host) != doc_domain
        tokens = set(_TOKEN.findall(lower))
        rule = self._find(self._host_rules, self._token_rules, self._domain_rules,
                          self._generic_rules, url, lower, host, tokens, doc_host, kind,
                          third_party, categories)
        if rule is None or rule.important:
            return rule
        exception = self._find(self._host_exceptions, self._token_exceptions,
                               self._domain_exceptions, self._generic_exceptions, url, lower,
                               host, tokens, doc_host, kind, third_party, rule.category)
        return rule if exception is None else None

    @staticmethod
    def _find(by_host: dict[str, list[NetworkRule]], by_token: dict[str, list[NetworkRule]],
              by_domain: dict[str, list[NetworkRule]], generic: list[NetworkRule], url: str,
              lower: str, host: str, tokens: set[str], doc_host: str, kind: int,
              third_party: bool, categories: int) -> NetworkRule | None:
        # The hot loop of every decision: the cheapest tests first, all inline.
        buckets: list[Iterable[NetworkRule]] = []
        for suffix in host_suffixes(host):
            rules = by_host.get(suffix)
            if rules:
                buckets.append(rules)
        for token in tokens:
            rules = by_token.get(token)
            if rules:
                buckets.append(rules)
        if by_domain:
            for suffix in host_suffixes(doc_host):
                rules = by_domain.get(suffix)
                if rules:
                    buckets.append(rules)
        buckets.append(generic)
        for bucket in buckets:
            for rule in bucket:
                if (rule.literal in lower and rule.types & kind and rule.category & categories
                        and (rule.party is None or rule.party == third_party)
                        and (not (rule.include or rule.exclude)
                             or domain_admits(doc_host, rule.include, rule.exclude))
                        and (rule.host_only or rule.regex.search(
                            url if rule.match_case else lower) is not None)):
                    return rule
        return None

    def page_exemptions(self, page_url: str, categories: int) -> int:
        """The page-level exception bits (``DOCUMENT``, ``ELEMHIDE``, ``GENERICHIDE``) that
        ``@@…$document`` and the like grant ``page_url``."""
        lower = page_url.lower()
        host = _url_host(lower)
        bits = 0
        for rule in self._page_exceptions:
            if rule.category & categories and (not (rule.include or rule.exclude)
                                               or domain_admits(host, rule.include, rule.exclude)):
                if rule.regex.search(page_url if rule.match_case else lower):
                    bits |= rule.page
        return bits

    # ------------------------------------------------------------------ cosmetic

    def hiding_selectors(self, page_host: str, categories: int, generic: bool = True) -> list[str]:
        """The selectors to hide on ``page_host`` (:meth:`Cosmetic.selectors`)."""
        return self.cosmetic.selectors(page_host, categories, generic)

    def hiding_css(self, page_host: str, categories: int, generic: bool = True) -> str:
        """A style sheet that hides them (:meth:`Cosmetic.css`)."""
        return self.cosmetic.css(page_host, categories, generic)


def _glob_escape(text: str) -> str:
    """``text`` as a literal in a Chromium URL pattern (``*``, ``?`` and ``\\`` escaped)."""
    return re.sub(r"([*?\\])", r"\\\1", text)


_COSMETIC = re.compile(r"^([^/|@\"!]*?)(#@?#|#\?#|#\$#|#@\$#|#%#|#@\?#)(.+)$")


def _url_host(lower_url: str) -> str:
    """The host of a lower-cased absolute URL ('' when it has none), without port or userinfo."""
    start = lower_url.find("://")
    if start < 0:
        return ""
    start += 3
    end = len(lower_url)
    for char in "/?#":
        pos = lower_url.find(char, start)
        if 0 <= pos < end:
            end = pos
    authority = lower_url[start:end]
    at = authority.rfind("@")
    if at >= 0:
        authority = authority[at + 1:]
    if authority.startswith("["):
        return authority[1:authority.find("]")] if "]" in authority else ""
    colon = authority.find(":")
    return authority[:colon] if colon >= 0 else authority


def url_host(url: str) -> str:
    """The lower-cased host of an absolute URL ('' when it has none)."""
    return _url_host(url.lower())
