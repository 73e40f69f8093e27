"""Tunnels through an upstream proxy to an address the guard has already checked.

The egress proxy resolves and checks a page's host itself, then calls :func:`tunnel` with one
checked IP address: the upstream proxy is asked to connect to that address, never to the name,
so it cannot resolve the name to somewhere else (the pinning holds through it). ``http`` and
``https`` proxies get ``CONNECT address:port`` (with ``Proxy-Authorization: Basic`` when they
have credentials; for ``https`` the connection to the proxy is TLS, verified); ``socks5``
proxies get a SOCKS5 CONNECT to the IPv4 or IPv6 address (RFC 1928), with username and password
authentication (RFC 1929) when they have credentials.

Once the tunnel is open, its transport is handed to the protocol that pipes it. Every failure
is an :class:`UpstreamFailed` that names the proxy by :meth:`UpstreamProxy.describe`, never its
credentials.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import struct
from typing import cast

from screenshotd.params.proxies import UpstreamProxy

#: Most time to reach the upstream proxy and have it open the tunnel.
TUNNEL_TIMEOUT_S = 10.0
MAX_HEAD_BYTES = 16 * 1024

_SOCKS_REPLIES = {
    1: "general failure", 2: "connection not allowed by its rules", 3: "network unreachable",
    4: "host unreachable", 5: "connection refused", 6: "TTL expired",
    7: "command not supported", 8: "address type not supported",
}


class UpstreamFailed(Exception):
    """The upstream proxy could not be reached, refused us, or could not open the tunnel."""

    def __init__(self, proxy: UpstreamProxy, what: str) -> None:
        super().__init__(f"the upstream proxy {proxy.describe()} {what}")
        self.proxy = proxy


async def tunnel(proxy: UpstreamProxy, address: str, port: int,
                 protocol: asyncio.Protocol) -> None:
    """Open a tunnel through ``proxy`` to ``address:port`` (an IP address) and give its
    transport to ``protocol``. Raises :class:`UpstreamFailed`."""
    handshake = _Handshake()
    try:
        async with asyncio.timeout(TUNNEL_TIMEOUT_S):
            await _connect(proxy, handshake)
            assert handshake.transport is not None
            try:
                if proxy.scheme == "socks5":
                    await _socks5(proxy, handshake, address, port)
                else:
                    await _connect_method(proxy, handshake, address, port)
            except BaseException:
                handshake.transport.abort()
                raise
    except TimeoutError:
        raise UpstreamFailed(proxy, f"did not open the tunnel within {TUNNEL_TIMEOUT_S:g} s"
                             ) from None
    except (OSError, ssl.SSLError) as exc:
        raise UpstreamFailed(proxy, f"failed: {_why(exc)}") from None
    transport, leftover = handshake.transport, bytes(handshake.buffer)
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    if leftover:  # nothing, unless the far end spoke first
        protocol.data_received(leftover)


class _Handshake(asyncio.Protocol):
    """The connection to the proxy while the tunnel is being asked for: bytes read on demand."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.closed: Exception | None = None
        self._wake: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._notify()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = exc or ConnectionResetError(0, "it closed the connection")
        self._notify()

    def _notify(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def _more(self) -> None:
        if self.closed is not None:
            raise self.closed
        self._wake = asyncio.get_running_loop().create_future()
        await self._wake

    async def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            await self._more()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def head(self) -> bytes:
        """Up to and including the blank line that ends an HTTP head."""
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            if len(self.buffer) > MAX_HEAD_BYTES:
                raise ValueError("an overlong head")
            await self._more()
        return await self.exactly(end + 4)

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)


async def _connect(proxy: UpstreamProxy, handshake: _Handshake) -> None:
    loop = asyncio.get_running_loop()
    if proxy.scheme == "https":
        await loop.create_connection(lambda: handshake, proxy.host, proxy.port,
                                     ssl=ssl.create_default_context(),
                                     server_hostname=proxy.host)
    else:
        await loop.create_connection(lambda: handshake, proxy.host, proxy.port)


async def _connect_method(proxy: UpstreamProxy, conn: _Handshake, address: str,
                          port: int) -> None:
    ip = ipaddress.ip_address(address)
    authority = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
    head = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
    if proxy.authorization:
        head += f"Proxy-Authorization: {proxy.authorization}\r\n"
    conn.write((head + "\r\n").encode("latin-1"))
    try:
        answer = await conn.head()
    except ValueError:
        raise UpstreamFailed(proxy, "answered CONNECT with an overlong head") from None
    status_line = answer.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise UpstreamFailed(proxy, f"answered CONNECT with {status_line[:80]!r}")
    if parts[1] != "200":
        reason = parts[2] if len(parts) > 2 else ""
        hint = " (check its credentials)" if parts[1] == "407" else ""
        raise UpstreamFailed(proxy, f"answered CONNECT with {parts[1]} {reason}{hint}".rstrip())


async def _socks5(proxy: UpstreamProxy, conn: _Handshake, address: str, port: int) -> None:
    credentials = bool(proxy.username or proxy.password)
    conn.write(b"\x05\x02\x00\x02" if credentials else b"\x05\x01\x00")
    version, method = await conn.exactly(2)
    if version != 5:
        raise UpstreamFailed(proxy, "does not speak SOCKS5")
    if method == 0x02:
        if not credentials:
            raise UpstreamFailed(proxy, "wants a username and password, and has none here")
        user, password = proxy.username.encode(), proxy.password.encode()
        if len(user) > 255 or len(password) > 255:
            raise UpstreamFailed(proxy, "has a username or password over 255 bytes")
        conn.write(bytes([1, len(user)]) + user + bytes([len(password)]) + password)
        _, status = await conn.exactly(2)
        if status != 0:
            raise UpstreamFailed(proxy, "refused the username and password (check its "
                                 "credentials)")
    elif method != 0x00:
        raise UpstreamFailed(proxy, "accepts none of the ways to log in offered")
    ip = ipaddress.ip_address(address)
    kind = b"\x01" if ip.version == 4 else b"\x04"
    conn.write(b"\x05\x01\x00" + kind + ip.packed + struct.pack("!H", port))
    _, reply, _, bound = await conn.exactly(4)
    if reply != 0:
        raise UpstreamFailed(proxy, f"could not connect: {_SOCKS_REPLIES.get(reply, reply)}")
    size = {1: 4, 4: 16}.get(bound)
    if size is None:
        size = (await conn.exactly(1))[0] if bound == 3 else -1
    if size < 0:
        raise UpstreamFailed(proxy, "sent a malformed SOCKS5 reply")
    await conn.exactly(size + 2)  # the bound address and port, unused


def _why(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__
