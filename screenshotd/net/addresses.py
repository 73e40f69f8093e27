"""Addresses, read and judged without DNS: the address policy and the literal part of the door.

- **Reading a host** the way a browser does (:func:`canonical_host`): ``2130706433``,
  ``0177.0.0.1``, ``0x7f.1``, ``127.1``, a trailing dot, brackets and zone ids, percent-escapes,
  full-width digits all become the address the browser would connect to.
- **The address policy** (:class:`AddressPolicy`, :func:`is_public`). An address is allowed when
  it is globally routable unicast (``ipaddress``'s ``is_global``), or when ``ALLOW_PRIVATE_HOSTS``
  names it (a host, a ``host:port`` pair or a CIDR). An IPv6 address that wraps an IPv4 one
  (mapped, compatible, 6to4, NAT64, Teredo) is judged by the IPv4 address inside, because that is
  where a connection to it ends up. ``0.0.0.0``, ``100.64.0.0/10``, multicast and reserved ranges
  are never public.
- **The literal door** (:func:`check_url_literal`): a URL whose host is a refused address or a
  loopback name is 403 ``BLOCKED`` before any DNS. Names are resolved and checked by
  :class:`~screenshotd.net.egress.Guard`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from screenshotd import errors

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")


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
