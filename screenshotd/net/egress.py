"""The private-network guard: which addresses a capture, or any fetch made for a user, may reach.

Three parts, from the outside in:

- **The address policy** (:class:`~screenshotd.net.addresses.AddressPolicy`, in
  :mod:`~screenshotd.net.addresses` with the rest of what needs no DNS): which addresses are
  public, and which ``ALLOW_PRIVATE_HOSTS`` opens.
- **The guard** (:class:`Guard`). It resolves a name once, checks every address it resolves to,
  and hands back exactly those addresses: the caller connects to one of them, never to the name,
  so a second lookup (DNS rebinding) cannot change where the connection goes. Answers are kept
  for a short while, so the door and the browser's egress proxy (:mod:`screenshotd.net.proxy`) agree
  on one answer per name. :meth:`Guard.open_connection` connects to a pinned address.
- **The door** (:func:`~screenshotd.net.addresses.check_url_literal`, :meth:`Guard.check_url`). Before any browser work,
  the main URL's host is read the way a browser reads it (``2130706433``, ``0177.0.0.1``,
  ``0x7f.1``, ``127.1``, a trailing dot, brackets and zone ids, percent-escapes, full-width
  digits) and checked. A blocked URL is 403 ``BLOCKED``.

The door alone stops nothing that happens after it: redirects, sub-resources and rebinding are
stopped by the proxy Chromium is forced through, which asks the same guard for every connection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from screenshotd import errors
from screenshotd.net.addresses import (
    AddressPolicy,
    IPAddress,
    canonical_host,
    check_literal,
    check_url_literal,
    default_port,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

DNS_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 10.0
#: How long a resolved answer is reused. Reuse is safe: a connection always goes to an address
#: that was checked; it only means the door and the proxy see the same answer.
DNS_TTL_S = 30.0
DNS_NEGATIVE_TTL_S = 5.0
DNS_CACHE_ENTRIES = 4096



class Unreachable(Exception):
    """A permitted host that cannot be reached: it does not resolve, refuses, or times out."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # "unresolved", "refused" or "timeout"


# ---------------------------------------------------------------------------- resolving


class Resolver(Protocol):
    """Looks a name up: all its addresses, or an empty list when it does not resolve."""

    async def resolve(self, host: str) -> list[IPAddress]: ...


class SystemResolver:
    """``getaddrinfo`` in a small thread pool of its own, so slow lookups (a dead DNS server
    answers only after its timeout) never take the loop's default executor."""

    def __init__(self, workers: int = 8, timeout: float = DNS_TIMEOUT_S) -> None:
        self.timeout = timeout
        self._executor = concurrent.futures.ThreadPoolExecutor(workers, "dns")

    async def resolve(self, host: str) -> list[IPAddress]:
        loop = asyncio.get_running_loop()
        lookup = loop.run_in_executor(
            self._executor, socket.getaddrinfo, host, None, 0, socket.SOCK_STREAM
        )
        try:
            infos = await asyncio.wait_for(lookup, self.timeout)
        except (TimeoutError, OSError, UnicodeError):
            return []
        addresses: list[IPAddress] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        return addresses

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------------------- the guard


class Guard:
    """Resolve once, check every address, connect only to what was checked.

    ``resolver`` is injectable (tests rebind names with it). Concurrent lookups of one name share
    one call, and answers are reused for ``ttl`` seconds (failures for ``negative_ttl``).
    """

    def __init__(
        self,
        policy: AddressPolicy,
        resolver: Resolver | None = None,
        *,
        ttl: float = DNS_TTL_S,
        negative_ttl: float = DNS_NEGATIVE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._own_resolver = resolver is None
        self.resolver: Resolver = resolver or SystemResolver()
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self._clock = clock
        self._answers: dict[str, tuple[float, list[IPAddress]]] = {}
        self._pending: dict[str, asyncio.Future[list[IPAddress]]] = {}

    @property
    def open(self) -> bool:
        """``ALLOW_PRIVATE_HOSTS=*``: nothing is checked."""
        return self.policy.open

    def close(self) -> None:
        if self._own_resolver and isinstance(self.resolver, SystemResolver):
            self.resolver.close()

    async def admit(self, host: str, port: int) -> list[IPAddress]:
        """The addresses a connection to ``host:port`` may use: every one of them checked.

        Raises :class:`~screenshotd.errors.Blocked` when the host is, or resolves to, an address
        the policy does not allow (one bad address is enough), and :class:`Unreachable` when the
        name does not resolve.
        """
        name = canonical_host(host)
        if not isinstance(name, str):
            check_literal(name, port, self.policy)
            return [name]
        if not name:
            raise Unreachable("unresolved", "the URL has no host")
        needs_check = check_literal(name, port, self.policy)
        addresses = await self.lookup(name)
        if not addresses:
            raise Unreachable("unresolved", f"{name} does not resolve")
        if needs_check:
            for address in addresses:
                if not self.policy.allows_address(address, port):
                    raise errors.Blocked(f"{name} resolves to {address}, a non-public address")
        return addresses

    async def lookup(self, name: str) -> list[IPAddress]:
        now = self._clock()
        cached = self._answers.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        pending = self._pending.get(name)
        if pending is None:
            pending = asyncio.ensure_future(self.resolver.resolve(name))
            self._pending[name] = pending
            try:
                addresses = await asyncio.shield(pending)
            finally:
                self._pending.pop(name, None)
            ttl = self.ttl if addresses else self.negative_ttl
            if ttl > 0:
                if len(self._answers) >= DNS_CACHE_ENTRIES:
                    self._answers.clear()
                self._answers[name] = (self._clock() + ttl, addresses)
            return addresses
        return await asyncio.shield(pending)

    async def connect(
        self,
        host: str,
        port: int,
        opener: Callable[[str], Awaitable[T]],
        *,
        attempt_timeout: float = CONNECT_TIMEOUT_S,
    ) -> tuple[T, IPAddress]:
        """Admit ``host:port``, then ``opener(address)`` each checked address in turn until one
        connects, each attempt for at most ``attempt_timeout`` seconds. ``opener`` connects to
        the address it is given and nothing else."""
        addresses = await self.admit(host, port)
        last: Exception | None = None
        for address in addresses:
            try:
                return await asyncio.wait_for(opener(str(address)), attempt_timeout), address
            except TimeoutError:
                last = Unreachable(
                    "timeout", f"{host}:{port} did not answer within {attempt_timeout:g} s"
                )
            except OSError as exc:
                last = Unreachable("refused", f"{host}:{port} refused the connection ({exc.strerror})")
        assert last is not None
        raise last

    async def open_connection(
        self, host: str, port: int, *, ssl: Any = None, attempt_timeout: float = CONNECT_TIMEOUT_S
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Stream connection to a pinned address of ``host``; TLS still verifies ``host``."""

        async def opener(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await asyncio.open_connection(
                address, port, ssl=ssl, server_hostname=host if ssl else None
            )

        streams, _address = await self.connect(host, port, opener, attempt_timeout=attempt_timeout)
        return streams

    async def check_url(self, url: str) -> None:
        """The door: refuse a URL whose host is, or resolves to, a non-public address.

        A name that does not resolve passes: the browser will fail to load it and the client
        gets ``NAVIGATION_FAILED``, which is the truthful answer.
        """
        if not check_url_literal(url, self.policy):
            return
        parts = urlsplit(url)
        try:
            await self.admit(parts.hostname or "", parts.port or default_port(parts.scheme))
        except Unreachable:
            pass
