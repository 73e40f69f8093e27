"""Who a request acts for: the :class:`Caller` value, and the configured keys that name one.

A caller is decided once, by the gatekeeper, and then carried: the service admits captures,
lookups, jobs, batches and diffs *for a caller*, so what a key may do is written here and
nowhere else.

- ``id`` owns jobs and batches and is what rate limits count: ``key:<key id>`` (a prefix of the
  key's SHA-256, never the key) or ``ip:<address>``.
- ``domains`` are the hosts it may capture (None: any). ``example.com`` is that host alone,
  ``*.example.org`` any host under example.org. A limited caller may not render raw ``html``,
  which could load anything, and sees a stored capture only when it could have made it.
- ``limiter`` meters its renders (:meth:`Caller.charge`); None means unmetered.
- A named key (``API_KEYS_FILE``) also has a ``name`` (what ``/me`` and ``/metrics`` show), its
  own ``rate_limit`` (instead of ``MAX_REQUESTS_PER_MINUTE``), a monthly ``quota`` of
  renders, counted by ``usage``, and ``max_concurrent``: the most browser slots it holds at
  once (instead of ``MAX_CONCURRENT_PER_CALLER``).

:data:`LOCAL` is the command line's caller: any host, no limit.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

from screenshotd import errors
from screenshotd.auth.ratelimit import RateLimiter
from screenshotd.auth.usage import Usage, periods

_HOST_PATTERN = re.compile(
    r"(\*\.)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")


def key_id(key: str) -> str:
    """A key's public name: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request acts for, what it may capture, and what meters it (module docstring)."""

    id: str
    domains: tuple[str, ...] | None = None
    limiter: RateLimiter | None = field(default=None, compare=False, repr=False)
    name: str | None = None
    rate_limit: int | None = None
    quota: int | None = None
    usage: Usage | None = field(default=None, compare=False, repr=False)
    max_concurrent: int | None = None
    #: The most monitors it may have (None: the service's ``MAX_MONITORS_PER_CALLER``).
    max_monitors: int | None = None

    def may_capture(self, host: str) -> bool:
        if self.domains is None:
            return True
        host = host.lower().rstrip(".")
        for pattern in self.domains:
            if pattern.startswith("*."):
                if host.endswith(pattern[1:]):
                    return True
            elif host == pattern:
                return True
        return False

    def may_see(self, url: str | None) -> bool:
        """Whether a capture of ``url`` (None: raw html) may be shown to this caller: one it
        could have made itself."""
        if self.domains is None:
            return True
        return url is not None and self.may_capture(urlsplit(url).hostname or "")

    def check_target(self, url: str | None, field: str = "url") -> None:
        """403 ``DOMAIN_NOT_ALLOWED`` unless this caller may capture ``url`` (None: raw html)."""
        if self.domains is None:
            return
        allowed = " | ".join(self.domains)
        if url is None:
            raise errors.DomainNotAllowed(
                f"this API key may capture only {allowed}; raw html is not allowed", field="html")
        host = urlsplit(url).hostname or ""
        if not self.may_capture(host):
            raise errors.DomainNotAllowed(
                f"this API key may not capture {host}; it may capture only {allowed}",
                field=field)

    async def charge(self, units: int = 1) -> None:
        """Count ``units`` renders against this caller's monthly quota and rate limit, or
        refuse them with 429 ``QUOTA_EXCEEDED`` or ``RATE_LIMITED`` (and then they are not
        counted). Free without either."""
        what = "render" if units == 1 else f"{units} renders"
        if self.usage is not None and self.name is not None:
            if await self.usage.charge(self.name, units, self.quota) is None:
                _, _, end = periods(time.time())
                resets = datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%d")
                raise errors.QuotaExceeded(
                    f"{what} would go over this key's monthly quota of {self.quota} renders "
                    f"(cache hits are not counted); it renews on {resets} (UTC)",
                    retry_after=max(1, int(end - time.time())))
        if self.limiter is None:
            return
        retry_after = await self.limiter.hit(self.id, units, self.rate_limit)
        if retry_after:
            if self.usage is not None and self.name is not None:
                await self.usage.refund(self.name, units)
            limit = self.limiter.limit if self.rate_limit is None else self.rate_limit
            raise errors.RateLimited(
                f"{what} would go over the limit of {limit} renders a minute "
                f"(cache hits are not counted); retry in {retry_after} s",
                retry_after=retry_after)

    def count_hit(self) -> None:
        """A capture served from the cache, for this key's usage (no quota, no limit)."""
        if self.usage is not None and self.name is not None:
            self.usage.hit(self.name)

    def prepaid(self) -> Caller:
        """The same caller for work already charged (a queued job runs without a second
        charge)."""
        if self.limiter is None and self.usage is None:
            return self
        return replace(self, limiter=None, usage=None)


#: The command line's caller: any host, never metered.
LOCAL = Caller("local")


def parse_domains(text: str) -> tuple[str, ...]:
    """``example.com|*.example.org`` as patterns; ValueError names a bad one."""
    patterns = []
    for item in text.split("|"):
        item = item.strip().lower().rstrip(".")
        if not item:
            continue
        try:
            wildcard = item.startswith("*.")
            ascii_host = (item[2:] if wildcard else item).encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"{item!r} is not a host name") from None
        pattern = ("*." if wildcard else "") + ascii_host
        if not _HOST_PATTERN.fullmatch(pattern):
            raise ValueError(f"{item!r} is not a host name or *.domain")
        patterns.append(pattern)
    if not patterns:
        raise ValueError("a key's domain list is empty")
    return tuple(patterns)


class KeyRing:
    """The configured keys, kept only as SHA-256 digests, each with its caller.

    ``entries`` are ``API_KEYS`` items: ``key`` or ``key:host|*.domain|…``; ``limiter`` meters
    every key's caller. Raises ValueError for a bad domain list.
    """

    def __init__(self, entries: tuple[str, ...], limiter: RateLimiter | None = None) -> None:
        self._keys: dict[bytes, Caller] = {}
        for entry in entries:
            key, sep, domains = entry.partition(":")
            key = key.strip()
            if not key:
                raise ValueError("an API key is empty")
            caller = Caller(f"key:{key_id(key)}", parse_domains(domains) if sep else None,
                            limiter)
            self._keys[hashlib.sha256(key.encode("utf-8")).digest()] = caller

    @property
    def enabled(self) -> bool:
        return bool(self._keys)



    def metered_by(self, limiter: RateLimiter | None, usage: Usage | None = None) -> KeyRing:
        """The same keys, their callers metered by ``limiter``, their use counted by ``usage``
        under their key id."""
        ring = KeyRing(())
        ring._keys = {digest: replace(caller, limiter=limiter, usage=usage,
                                      name=caller.id.removeprefix("key:") if usage else None)
                      for digest, caller in self._keys.items()}
        return ring

    def by_id(self, caller_id: str) -> Caller | None:
        """The caller of a key by its id (a job's or a monitor's owner), if it is one."""
        return next((c for c in self._keys.values() if c.id == caller_id), None)

    def identify(self, presented: str | None) -> Caller | None:
        """The caller for a valid key, else None: the SHA-256 of what was sent, looked up in a
        table. No comparison runs on the key itself, and what an attacker controls (the key)
        reaches the table only through the hash, so the time taken tells nothing about which
        key is near; the cost does not grow with the number of keys."""
        if not presented:
            return None
        return self._keys.get(hashlib.sha256(presented.encode("utf-8")).digest())
