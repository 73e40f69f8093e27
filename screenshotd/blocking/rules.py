"""One EasyList network rule: its resource types, its options, and how its pattern reads.

:func:`parse_network` turns a line into a :class:`NetworkRule` (or None for a rule that cannot
be applied exactly); :mod:`screenshotd.blocking.engine` indexes the rules and decides requests with them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# --------------------------------------------------------------------------- resource types

SCRIPT, IMAGE, STYLESHEET, OBJECT, XHR, SUBDOCUMENT, DOCUMENT, MEDIA, FONT, WEBSOCKET, PING, \
    OTHER = (1 << i for i in range(12))
POPUP, ELEMHIDE, GENERICHIDE = (1 << i for i in range(12, 15))

#: The types a rule with no type option applies to: every request but the page itself.
DEFAULT_TYPES = SCRIPT | IMAGE | STYLESHEET | OBJECT | XHR | SUBDOCUMENT | MEDIA | FONT \
    | WEBSOCKET | PING | OTHER
#: Types only an exception can name: they switch filtering off for a whole page.
PAGE_TYPES = DOCUMENT | ELEMHIDE | GENERICHIDE

_TYPE_OPTIONS = {
    "script": SCRIPT, "image": IMAGE, "stylesheet": STYLESHEET, "css": STYLESHEET,
    "object": OBJECT, "object-subrequest": OBJECT, "xmlhttprequest": XHR, "xhr": XHR,
    "subdocument": SUBDOCUMENT, "frame": SUBDOCUMENT, "document": DOCUMENT, "doc": DOCUMENT,
    "media": MEDIA, "font": FONT, "websocket": WEBSOCKET, "ping": PING, "beacon": PING,
    "other": OTHER, "popup": POPUP, "elemhide": ELEMHIDE, "ehide": ELEMHIDE,
    "generichide": GENERICHIDE, "ghide": GENERICHIDE,
}
#: Options that change nothing about whether a request is blocked.
_IGNORED_OPTIONS = frozenset({"collapse", "~collapse"})

#: Playwright's ``Request.resource_type`` to a filter type (subdocument is decided by the frame).
RESOURCE_TYPES = {
    "document": DOCUMENT, "stylesheet": STYLESHEET, "image": IMAGE, "media": MEDIA,
    "font": FONT, "script": SCRIPT, "texttrack": OTHER, "xhr": XHR, "fetch": XHR,
    "eventsource": OTHER, "websocket": WEBSOCKET, "manifest": OTHER, "ping": PING,
    "cspviolationreport": PING, "other": OTHER,
}

# --------------------------------------------------------------------------- rules

_TOKEN = re.compile(r"[a-z0-9%]+")
_TOKEN_CHAR = frozenset("abcdefghijklmnopqrstuvwxyz0123456789%")
#: Tokens nearly every URL has: a rule filed under one would be tried on every URL.
_COMMON_TOKENS = frozenset({
    "http", "https", "www", "com", "net", "org", "js", "html", "htm", "php", "css", "png",
    "jpg", "gif", "cdn", "static", "assets", "img", "images", "min", "v1", "v2", "api",
})
_SEPARATOR = r"(?:[^a-z0-9_.%-]|$)"
_SEPARATOR_CASE = r"(?:[^A-Za-z0-9_.%-]|$)"
_HOST_ANCHOR = r"^[a-z][a-z0-9+.-]*://(?:[^/?#]*\.)?"
_HOST_CHARS = re.compile(r"^[a-z0-9.-]+$")


class NetworkRule:
    """One network rule (blocking or ``@@`` exception), as parsed from its line."""

    __slots__ = ("text", "pattern", "exception", "types", "page", "party", "include",
                 "exclude", "match_case", "important", "category", "host", "host_only", "is_regex",
                 "literal", "_regex")

    def __init__(self, text: str, pattern: str, exception: bool, category: int) -> None:
        self.text = text
        self.pattern = pattern
        self.exception = exception
        self.category = category
        self.types = DEFAULT_TYPES
        #: On an exception: the page-level bits it grants (DOCUMENT, ELEMHIDE, GENERICHIDE).
        self.page = 0
        #: None: any party; True: third-party only; False: first-party only.
        self.party: bool | None = None
        self.include: frozenset[str] = frozenset()
        self.exclude: frozenset[str] = frozenset()
        self.match_case = False
        self.important = False
        #: For ``||host^…`` rules: the host, and whether the host alone decides the match.
        self.host = ""
        self.host_only = False
        #: ``/…/``: the pattern is a regular expression.
        self.is_regex = False
        #: The longest run of plain characters in the pattern, lower-cased: a URL without it
        #: cannot match, and ``in`` tells that far faster than the regular expression.
        self.literal = ""
        self._regex: re.Pattern[str] | None = None

    def __repr__(self) -> str:
        return f"NetworkRule({self.text!r})"

    @property
    def regex(self) -> re.Pattern[str]:
        if self._regex is None:
            self._regex = _compile(self.pattern, self.match_case, self.is_regex)
        return self._regex


def domain_admits(host: str, include: frozenset[str], exclude: frozenset[str]) -> bool:
    """``domain=`` semantics: the most specific listed suffix of ``host`` decides; with none
    listed, the rule applies only when it names no included domain."""
    for suffix in host_suffixes(host):
        if suffix in exclude:
            return False
        if suffix in include:
            return True
    return not include


def host_suffixes(host: str) -> Iterator[str]:
    """``a.b.c`` then ``b.c`` then ``c``."""
    yield host
    start = host.find(".")
    while start >= 0:
        yield host[start + 1:]
        start = host.find(".", start + 1)


def _compile(pattern: str, match_case: bool, is_regex: bool = False) -> re.Pattern[str]:
    if is_regex:
        return re.compile(pattern[1:-1], 0 if match_case else re.IGNORECASE)
    return re.compile(_to_regex(pattern, match_case))


def _to_regex(pattern: str, match_case: bool = False) -> str:
    """An EasyList pattern as a regular expression on the (lower-cased) URL."""
    prefix = suffix = ""
    if pattern.startswith("||"):
        prefix, pattern = _HOST_ANCHOR, pattern[2:]
    elif pattern.startswith("|"):
        prefix, pattern = "^", pattern[1:]
    if pattern.endswith("|"):
        suffix, pattern = "$", pattern[:-1]
    separator = _SEPARATOR_CASE if match_case else _SEPARATOR
    body = []
    for char in pattern:
        if char == "*":
            body.append(".*")
        elif char == "^":
            body.append(separator)
        else:
            body.append(re.escape(char))
    return prefix + "".join(body) + suffix


def _pattern_tokens(pattern: str) -> list[str]:
    """Tokens that any URL the (non-regex) pattern matches contains as whole tokens."""
    left_bounded = pattern.startswith("|")  # ``||host`` starts after "." or "//"; "|" at start
    text = pattern.lstrip("|").rstrip("|")
    right_end_bounded = pattern.endswith("|") and not pattern.endswith("||")
    tokens = []
    for match in _TOKEN.finditer(text):
        start, end = match.span()
        before = text[start - 1] if start else ""
        after = text[end] if end < len(text) else ""
        left = (before not in ("", "*")) or (start == 0 and left_bounded)
        right = (after not in ("", "*")) or (end == len(text) and right_end_bounded)
        if left and right:
            tokens.append(match.group())
    return tokens


_OPTIONS_SPLIT = re.compile(r"\$(?!.*\$)")


def parse_network(line: str, category: int) -> NetworkRule | None:
    """A network rule from one line, or None for a rule this engine does not support."""
    exception = line.startswith("@@")
    body = line[2:] if exception else line
    options = ""
    if "$" in body and not (len(body) > 2 and body.startswith("/") and body.endswith("/")):
        pos = body.rfind("$")
        body, options = body[:pos], body[pos + 1:]
    pattern = body
    rule = NetworkRule(line, "", exception, category)
    if options:
        if not _apply_options(rule, options):
            return None
    if len(pattern) > 2 and pattern.startswith("/") and pattern.endswith("/"):
        try:
            re.compile(pattern[1:-1])
        except re.error:
            return None  # a JavaScript regular expression Python cannot read
        rule.pattern, rule.is_regex = pattern, True
        return rule
    if not rule.match_case:
        pattern = pattern.lower()
    if pattern in ("", "*", "|", "||"):
        if rule.types == DEFAULT_TYPES and not (rule.include or rule.party is not None):
            return None  # matches everything with nothing to narrow it: never what a list means
        pattern = "*"
    # "*" at either end changes nothing
    while len(pattern) > 1 and pattern.startswith("*") and not pattern.startswith("*|"):
        pattern = pattern[1:]
    while len(pattern) > 1 and pattern.endswith("*") and not pattern.endswith("|*"):
        pattern = pattern[:-1]
    rule.pattern = pattern
    rule.literal = max(re.split(r"[*^|]+", pattern.lower()), key=len)
    if pattern.startswith("||"):
        rest = pattern[2:]
        cut = min((i for i in (rest.find(c) for c in "^/*|?:") if i >= 0), default=len(rest))
        host = rest[:cut]
        if host and _HOST_CHARS.match(host) and cut < len(rest) and rest[cut] in "^/":
            rule.host = host.strip(".")
            # ``||host^`` alone: the host decides; anything after it is checked by pattern.
            rule.host_only = rest[cut:] == "^" and not rule.match_case
            if rule.host_only:
                rule.literal = ""
    return rule


def _apply_options(rule: NetworkRule, options: str) -> bool:
    positive = 0
    negative = 0
    for option in options.split(","):
        option = option.strip()
        name = option.lower()
        if name in _IGNORED_OPTIONS or not name:
            continue
        if name in ("third-party", "3p", "~first-party", "~1p"):
            rule.party = True
        elif name in ("~third-party", "~3p", "first-party", "1p"):
            rule.party = False
        elif name == "match-case":
            rule.match_case = True
        elif name == "important":
            rule.important = True
        elif name.startswith("domain="):
            include, exclude = set(), set()
            for domain in option[7:].lower().split("|"):
                domain = domain.strip()
                if domain.startswith("~"):
                    exclude.add(domain[1:])
                elif domain:
                    include.add(domain)
            rule.include, rule.exclude = frozenset(include), frozenset(exclude)
        elif name in _TYPE_OPTIONS:
            positive |= _TYPE_OPTIONS[name]
        elif name.startswith("~") and name[1:] in _TYPE_OPTIONS:
            negative |= _TYPE_OPTIONS[name[1:]]
        else:
            return False  # csp=, rewrite=, redirect=, sitekey=, … : not ours to half-apply
    if positive:
        rule.types = positive
    if negative:
        rule.types = (positive or DEFAULT_TYPES) & ~negative
    # Only an exception can name the page itself (to switch filtering off there); a blocking
    # rule never blocks the page being captured. Popups are not requests a capture makes.
    rule.page = rule.types & PAGE_TYPES if rule.exception else 0
    rule.types &= ~(PAGE_TYPES | POPUP)
    return bool(rule.types or rule.page)
