"""Element hiding: EasyList's ``##`` rules as a style sheet per page.

Generic rules apply everywhere, domain rules on their domains and subdomains, and ``#@#``
exceptions lift either, on some domains or everywhere. Procedural selectors (uBlock's and
AdGuard's ``:has-text()``, ``:xpath()``...) are not CSS and are skipped.

The sheet has one rule per selector, so that a selector the browser does not understand drops
only its own rule. The generic part that no domain exempts is the same for nearly every page,
so it is built once per set of categories.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from screenshotd.blocking.rules import host_suffixes

#: Selectors a plain style sheet cannot express (uBlock's and AdGuard's procedural ones).
_PROCEDURAL = ("-abp-", ":has-text(", ":contains(", ":xpath(", ":matches-css", ":style(",
               ":remove(", ":upward(", ":min-text-length(", ":watch-attr(", ":matches-path(",
               ":matches-attr(", ":others(", ":if(", ":if-not(", ":nth-ancestor(")


@dataclass
class Cosmetic:
    """Element-hiding rules: generic ones, and per domain, with their exceptions."""

    generic: dict[str, int] = field(default_factory=dict)  # selector -> category bits
    #: Generic selectors that some domains exempt (``~example.com##.ad``).
    generic_except: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    specific: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    exceptions: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    #: ``#@#selector``: exempt on every page.
    exempt_everywhere: set[str] = field(default_factory=set)
    #: The shared generic sheet, per set of categories; emptied when rules are added.
    _css_memo: dict[int, str] = field(default_factory=dict)

    def add(self, domains: str, selector: str, exception: bool, category: int) -> bool:
        if any(mark in selector for mark in _PROCEDURAL) or "{" in selector or "}" in selector:
            return False
        self._css_memo.clear()
        include = [d for d in (p.strip().lower() for p in domains.split(",")) if d and d[0] != "~"]
        exclude = [d[1:] for d in (p.strip().lower() for p in domains.split(",")) if d[:1] == "~"]
        if exception:
            if not include:
                self.exempt_everywhere.add(selector)
            for domain in include:
                self.exceptions[domain].add(selector)
            return True
        if include:
            for domain in include:
                table = self.specific[domain]
                table[selector] = table.get(selector, 0) | category
        else:
            self.generic[selector] = self.generic.get(selector, 0) | category
            for domain in exclude:
                self.generic_except[selector].add(domain)
        return True

    def selectors(self, page_host: str, categories: int, generic: bool = True) -> list[str]:
        """The selectors to hide on ``page_host``: the generic ones (unless ``generic`` is
        off) and the host's own, less the exceptions that apply there."""
        cosmetic = self
        suffixes = list(host_suffixes(page_host.lower())) if page_host else []
        exempt = set(cosmetic.exempt_everywhere)
        specific: list[str] = []
        for suffix in suffixes:
            exempt |= cosmetic.exceptions.get(suffix, set())
            specific.extend(s for s, bits in cosmetic.specific.get(suffix, {}).items()
                            if bits & categories)
        selectors = []
        if generic:
            for selector, bits in cosmetic.generic.items():
                if not bits & categories or selector in exempt:
                    continue
                excluded = cosmetic.generic_except.get(selector)
                if excluded and any(s in excluded for s in suffixes):
                    continue
                selectors.append(selector)
        seen = set(selectors)
        selectors.extend(s for s in dict.fromkeys(specific) if s not in exempt and s not in seen)
        return selectors

    def css(self, page_host: str, categories: int, generic: bool = True) -> str:
        """A style sheet that hides :meth:`selectors`, one rule per selector, so that a
        selector the browser does not understand drops only its own rule.

        The generic rules that no domain exempts are the same for every page without cosmetic
        exceptions of its own (nearly all): that part is built once per set of categories, and
        only the page's own rules are added to it.
        """
        cosmetic = self
        suffixes = list(host_suffixes(page_host.lower())) if page_host else []
        if not generic or any(s in cosmetic.exceptions for s in suffixes):
            return _sheet(self.selectors(page_host, categories, generic))
        shared = self._css_memo.get(categories)
        if shared is None:
            shared = self._css_memo[categories] = _sheet(
                selector for selector, bits in cosmetic.generic.items()
                if bits & categories and selector not in cosmetic.exempt_everywhere
                and selector not in cosmetic.generic_except)
        own = [selector for selector, excluded in cosmetic.generic_except.items()
               if cosmetic.generic.get(selector, 0) & categories
               and selector not in cosmetic.exempt_everywhere
               and not any(s in excluded for s in suffixes)]
        for suffix in suffixes:
            own.extend(selector for selector, bits in cosmetic.specific.get(suffix, {}).items()
                       if bits & categories and selector not in cosmetic.exempt_everywhere)
        return shared + _sheet(dict.fromkeys(own))


def _sheet(selectors: Iterable[str]) -> str:
    return "".join(f"{s}{{display:none!important}}\n" for s in selectors)
