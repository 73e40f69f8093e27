"""The private-network guard: which addresses a capture, or any fetch made for a user, may reach.

Three parts, from the outside in:

- **The address policy** (:class:`AddressPolicy`, :func:`is_public`). An address is allowed when
  it is globally routable unicast (``ipaddress``'s ``is_global``), or when ``ALLOW_PRIVATE_HOSTS``
  names it (a host, a ``host:port`` pair or a CIDR). An IPv6 address that wraps an IPv4 one
  (mapped, compatible, 6to4, NAT64, Teredo) is judged by the IPv4 address inside, because that is
  where a connection to it ends up. ``0.0.0.0``, ``100.64.0.0/10``, multicast and reserved ranges
  are never public.
- **The guard** (:class:`Guard`). It resolves a name once, checks every address it resolves to,
  and hands back exactly those addresses: the caller connects to one of them, never to the name,
  so a second lookup (DNS rebinding) cannot change where the connection goes. Answers are kept
  for a short while, so the door and the browser's egress proxy (:mod:`screenshotd.net.proxy`) agree
  on one answer per name. :meth:`Guard.open_connection` connects to a pinned address.
- **The door** (:func:`check_url_literal`, :meth:`Guard.check_url`). Before any browser work,
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
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote, urlsplit

from screenshotd import errors

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
T = TypeVar("T")

DNS_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 10.0
#: How long a resolved answer is reused. Reuse is safe: a connection always goes to an address
#: that was checked; it only means the door and the proxy see the same answer.
DNS_TTL_S = 30.0
DNS_NEGATIVE_TTL_S = 5.0
DNS_CACHE_ENTRIES = 4096

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class Unreachable(Exception):
    """A permitted host that cannot be reached: it does not resolve, refuses, or times out."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # "unresolved", "refused" or "timeout"


# ---------------------------------------------------------------------------- reading hosts


def parse_ipv4_like(host: str) -> ipaddress.IPv4Address | None:
    """Read a host as an IPv4 address the way WHATWG URL parsing does, or return None.

    Accepts decimal (``2130706433``), octal (``0177.0.0.1``), hex (``0x7f.1``) and short
    (``127.1``) forms, which browsers all treat as IPv4.
    """
    parts = host.split(".")
    if parts and parts[-1] == "":
        parts.pop()
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        if not part:
            return None
        try:
            if part.lower().startswith("0x"):
                numbers.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                numbers.append(int(part, 8))
            else:
                if not part.isdigit() or not part.isascii():
                    return None
                numbers.append(int(part, 10))
        except ValueError:
            return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def canonical_host(host: str) -> str | IPAddress:
    """The host as the browser will see it: an IP address object, or a lower-case ASCII name.

    Percent-escapes are decoded and non-ASCII names are mapped the IDNA way (full-width digits
    and dots become ASCII ones) before the IPv4 forms are read, as a browser does.
    """
    host = unquote(host.strip()).lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if "%" in host:  # an IPv6 zone id
        host = host.split("%", 1)[0]
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass  # not a name a browser can resolve either; checked as it is
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    v4 = parse_ipv4_like(host)
    if v4 is not None:
        return v4
    return host.rstrip(".")


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv6 one: mapped, compatible, 6to4, NAT64 or Teredo."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    packed = address.packed
    if any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(packed[-4:])
    if packed[:12] == bytes(12) and packed[12:] not in (bytes(4), b"\x00\x00\x00\x01"):
        return ipaddress.IPv4Address(packed[-4:])  # IPv4-compatible (deprecated) ::a.b.c.d
    return None


def is_public(address: IPAddress) -> bool:
    """True when the address is globally routable unicast.

    An IPv6 address that wraps an IPv4 one (mapped, compatible, 6to4, NAT64, Teredo) is judged by
    the IPv4 address inside: that is where a connection to it ends up.
    """
    inner = embedded_ipv4(address)
    if inner is not None:
        return is_public(inner)
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return False
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return False
    return address.is_global


def is_loopback_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


def default_port(scheme: str) -> int:
    return 443 if scheme in ("https", "wss") else 80


# ---------------------------------------------------------------------------- the policy


@dataclass(frozen=True)
class AddressPolicy:
    """What ``ALLOW_PRIVATE_HOSTS`` allows on top of the public internet."""

    hosts: frozenset[str] = frozenset()
    host_ports: frozenset[tuple[str, int]] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    open: bool = False

    @classmethod
    def from_setting(cls, items: Iterable[str]) -> AddressPolicy:
        """Read ``ALLOW_PRIVATE_HOSTS`` items; ValueError names an item that is none of the
        forms."""
        hosts: set[str] = set()
        host_ports: set[tuple[str, int]] = set()
        networks = []
        is_open = False
        for item in items:
            item = item.strip()
            if item == "*":
                is_open = True
            elif "/" in item:
                try:
                    networks.append(ipaddress.ip_network(item, strict=False))
                except ValueError:
                    raise ValueError(f"{item!r} is not a valid CIDR") from None
            else:
                host, port = _split_host_port(item)
                name = str(canonical_host(host))
                if port is None:
                    hosts.add(name)
                else:
                    host_ports.add((name, port))
        return cls(frozenset(hosts), frozenset(host_ports), tuple(networks), is_open)

    def allows_name(self, host: str, port: int) -> bool:
        return self.open or host in self.hosts or (host, port) in self.host_ports

    def allows_address(self, address: IPAddress, port: int) -> bool:
        if self.open or is_public(address):
            return True
        text = str(address)
        if text in self.hosts or (text, port) in self.host_ports:
            return True
        return any(address in net for net in self.networks if net.version == address.version)


_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*\.?$")


def _split_host_port(item: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address; ValueError with
    a message that says what is wrong otherwise."""
    host, port = item, None
    if item.startswith("["):
        host, bracket, rest = item[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"{item!r} is not a host, host:port or CIDR")
        port = rest[1:] if rest else None
    elif item.count(":") == 1:
        host, port = item.split(":")
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"{item!r} has a bad port")
    name = canonical_host(host)
    if isinstance(name, str) and not _NAME.match(name):
        raise ValueError(f"{item!r} is not a host, host:port or CIDR")
    return host, int(port) if port is not None else None


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


def check_url_literal(url: str, policy: AddressPolicy) -> bool:
    """The part of the door check that needs no DNS: literal addresses and loopback names.

    Raises :class:`~screenshotd.errors.Blocked` for a refused host. Returns True when the host
    is a name that still has to be resolved and checked (:meth:`Guard.check_url` does both). A
    cache hit runs only this part: serving stored bytes makes no network request.
    """
    if policy.open:
        return False
    parts = urlsplit(url)
    return check_literal(canonical_host(parts.hostname or ""), parts.port or
                         default_port(parts.scheme), policy)


def check_literal(host: str | IPAddress, port: int, policy: AddressPolicy) -> bool:
    """Check a canonical host without DNS: an address against the policy, a loopback name by
    name. Raises :class:`~screenshotd.errors.Blocked`; returns True when ``host`` is a name
    whose addresses must still be checked (the policy does not name it)."""
    if not isinstance(host, str):
        if not policy.allows_address(host, port):
            raise errors.Blocked(f"{host} is a non-public address")
        return False
    named = policy.allows_name(host, port)
    if is_loopback_name(host) and not named:
        raise errors.Blocked(f"{host} is a loopback host")
    return not named and not is_loopback_name(host)
