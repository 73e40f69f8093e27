"""The private-network guard: which addresses a capture may reach.

This module holds the address policy and the check at the door: before any browser work starts,
the main URL's host is canonicalised the way a browser would (``2130706433``, ``0x7f.1``,
``127.1``, a trailing dot, brackets and zone ids), resolved once, and every address it resolves
to must be public or allowed by ``ALLOW_PRIVATE_HOSTS``. A blocked URL is 403 ``BLOCKED``.

The door alone does not stop redirects, sub-resources or DNS rebinding; the egress proxy that
Chromium is forced through closes those (the "Private-network guard" work).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from . import errors

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DNS_TIMEOUT_S = 5.0

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")


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
                if not part.isdigit():
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
    """The host as the browser will see it: an IP address object, or a lower-case name."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if "%" in host:  # an IPv6 zone id
        host = host.split("%", 1)[0]
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


@dataclass(frozen=True)
class AddressPolicy:
    """What ``ALLOW_PRIVATE_HOSTS`` allows on top of the public internet."""

    hosts: frozenset[str] = frozenset()
    host_ports: frozenset[tuple[str, int]] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    open: bool = False

    @classmethod
    def from_setting(cls, items: Iterable[str]) -> AddressPolicy:
        hosts: set[str] = set()
        host_ports: set[tuple[str, int]] = set()
        networks = []
        is_open = False
        for item in items:
            item = item.strip()
            if item == "*":
                is_open = True
            elif "/" in item:
                networks.append(ipaddress.ip_network(item, strict=False))
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


def _split_host_port(item: str) -> tuple[str, int | None]:
    if item.startswith("["):
        host, _, rest = item[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    if item.count(":") == 1:
        host, port = item.split(":")
        return host, int(port)
    return item, None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """All addresses of ``host``, with a timeout; the loop is never blocked."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), DNS_TIMEOUT_S
        )
    except (TimeoutError, OSError):
        return []
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def check_url_literal(url: str, policy: AddressPolicy) -> bool:
    """The part of the door check that needs no DNS: literal addresses and loopback names.

    Raises :class:`~screenshotd.errors.Blocked` for a refused host. Returns True when the host
    is a name that still has to be resolved and checked (:func:`check_url` does both). A cache
    hit runs only this part: serving stored bytes makes no network request.
    """
    if policy.open:
        return False
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = canonical_host(parts.hostname or "")
    if isinstance(host, str):
        if host == "localhost" or host.endswith(".localhost"):
            if not policy.allows_name(host, port):
                raise errors.Blocked(f"{host} is a loopback host")
            return False
        return not policy.allows_name(host, port)
    if not policy.allows_address(host, port):
        raise errors.Blocked(f"{host} is a non-public address")
    return False


async def check_url(url: str, policy: AddressPolicy) -> None:
    """Refuse a URL whose host is, or resolves to, a non-public address the policy does not allow.

    A name that does not resolve passes: the browser will fail to load it and the client gets
    ``NAVIGATION_FAILED``, which is the truthful answer.
    """
    if not check_url_literal(url, policy):
        return
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = str(canonical_host(parts.hostname or ""))
    for address in await resolve(host, port):
        if not policy.allows_address(address, port):
            raise errors.Blocked(f"{parts.hostname} resolves to {address}, a non-public address")
