"""The egress proxy: the one way out of Chromium, and the guard on it.

Chromium is launched with ``--proxy-server`` pointing here and ``--proxy-bypass-list=<-loopback>``
(so not even loopback is exempt), and Chromium then never resolves or connects to a page's hosts
itself. Every document, redirect hop, sub-resource, iframe, fetch, WebSocket and popup becomes a
request to this proxy, which asks the :class:`~screenshotd.net.egress.Guard` for the addresses and
connects to one of exactly those:

- ``CONNECT host:port`` (https, wss, and ws through a proxy) is answered ``200`` and tunnelled,
  or refused with ``403`` (blocked), ``502`` (no such host, refused) or ``504`` (timed out).
- An absolute-form request (``GET http://host/path``, plain http) is sent on in origin form with
  ``Connection: close``, and its response is passed back marked ``Connection: close``, so every
  http request has a connection of its own and no later request can ride an earlier one's
  connection to a host it was not checked for. A refusal is a short response carrying the
  ``X-Screenshotd-Egress`` header, which the capture reads.

Each browser context gets a :class:`Channel` of its own: a listener on its own loopback port, set
as that context's proxy. So every refusal is known per capture (``blocked_requests``, and the
403 for a main document redirected to a blocked address), and closing the context's channel
closes every connection the capture still had. The proxy's shared channel, given at launch,
serves anything outside a channel context (nothing, normally).

A channel may go out through an upstream proxy (``proxy=``, ``PROXIES``): the host is still
resolved and checked here, and the upstream is asked to connect to the checked address
(:mod:`.upstream`). An upstream that fails is refused as ``upstream`` (502), and a main document
that ends there is ``NAVIGATION_FAILED`` naming the proxy.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from screenshotd import errors
from screenshotd.net.addresses import canonical_host, default_port
from screenshotd.net.egress import Guard, Unreachable
from screenshotd.net.upstream import UpstreamFailed, tunnel
from screenshotd.params.proxies import ProxyTable, UpstreamProxy

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 32 * 1024
HEAD_TIMEOUT_S = 15.0
MARKER = "X-Screenshotd-Egress"
MARKER_LOWER = MARKER.lower()
#: Refusals kept per channel (the count goes on past it).
KEPT_REFUSALS = 64

_STATUS = {"blocked": (403, "Forbidden"), "unresolved": (502, "Bad Gateway"),
           "upstream": (502, "Bad Gateway"),
           "refused": (502, "Bad Gateway"), "timeout": (504, "Gateway Timeout"),
           "bad_request": (400, "Bad Request")}
#: Chromium's names for what the proxy saw, so errors read as they would without it.
_NET_ERRORS = {"unresolved": "ERR_NAME_NOT_RESOLVED", "refused": "ERR_CONNECTION_REFUSED",
               "timeout": "ERR_CONNECTION_TIMED_OUT"}
_HOP_BY_HOP = {b"connection", b"proxy-connection", b"keep-alive", b"proxy-authorization",
               b"proxy-authenticate", b"te", b"trailer", b"upgrade"}


@dataclass(frozen=True)
class Refusal:
    """One connection the proxy did not make."""

    reason: str  # "blocked", "unresolved", "refused", "timeout", "upstream" or "bad_request"
    host: str  # canonical host ("" for a refused scheme)
    port: int
    message: str

    def error(self) -> errors.ScreenshotError:
        """The error a main document that ended here becomes."""
        if self.reason == "blocked":
            return errors.Blocked(self.message)
        if self.reason == "upstream":
            return errors.NavigationFailed(f"the browser could not load the page: {self.message}")
        code = _NET_ERRORS.get(self.reason, "ERR_TUNNEL_CONNECTION_FAILED")
        return errors.NavigationFailed(
            f"the browser could not load the page: {code} ({self.message})"
        )


class Channel:
    """One context's way out: a loopback listener, its connections, and what it refused."""

    def __init__(self, guard: Guard, upstream: UpstreamProxy | None = None) -> None:
        self.guard = guard
        #: The proxy this channel's connections go out through (``proxy=``), if any.
        self.upstream = upstream
        self.refusals: deque[Refusal] = deque(maxlen=KEPT_REFUSALS)
        self._blocked_targets: set[str] = set()
        self._server: asyncio.Server | None = None
        self._clients: set[_Client] = set()
        self.port = 0

    async def start(self) -> Channel:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Client(self), "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def server(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def context_options(self) -> dict[str, Any]:
        """``new_context`` arguments that send the context through this channel."""
        return {"proxy": {"server": self.server, "bypass": "<-loopback>"}}

    @property
    def blocked(self) -> int:
        """Distinct targets refused by policy: a URL for plain http, ``host:port`` for a tunnel
        (which carries requests the proxy cannot see). Chromium tries a refused tunnel more
        than once; that is still one."""
        return len(self._blocked_targets)

    def refuse(self, reason: str, host: str, port: int, message: str, target: str = "") -> Refusal:
        refusal = Refusal(reason, host, port, message)
        self.refusals.append(refusal)
        if reason == "blocked" and len(self._blocked_targets) < 10_000:
            self._blocked_targets.add(target or f"{host}:{port}")
        log.debug("egress refused %s:%s (%s): %s", host, port, reason, message)
        return refusal

    def forget(self) -> None:
        """Start counting afresh: a kept context's next capture (page mode) sees only its
        own refusals."""
        self.refusals.clear()
        self._blocked_targets.clear()

    def last_refusal(self) -> Refusal | None:
        return self.refusals[-1] if self.refusals else None

    def refused(self, url: str) -> Refusal | None:
        """The latest refusal of ``url``'s host and port, if any."""
        try:
            parts = urlsplit(url)
            host, port = str(canonical_host(parts.hostname or "")), parts.port
        except ValueError:
            return None
        port = port or default_port(parts.scheme)
        for refusal in reversed(self.refusals):
            if (refusal.host, refusal.port) == (host, port):
                return refusal
        return None

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for client in list(self._clients):
            client.abort()
        self._clients.clear()


class EgressProxy:
    """Owns the channels. ``start`` opens the shared one; ``close`` closes them all."""

    def __init__(self, guard: Guard, proxies: ProxyTable | None = None) -> None:
        self.guard = guard
        self.proxies = proxies or ProxyTable()
        self.shared: Channel | None = None
        self._channels: set[Channel] = set()

    async def start(self) -> None:
        self.shared = await self.channel()

    @property
    def channel_count(self) -> int:
        """Open channels: the shared one plus one per live browser context."""
        return len(self._channels)

    def launch_args(self) -> list[str]:
        assert self.shared is not None, "start() the proxy first"
        return [f"--proxy-server={self.shared.server}", "--proxy-bypass-list=<-loopback>"]

    def upstream(self, name: str) -> UpstreamProxy:
        """The configured proxy ``name`` (options name only those that exist)."""
        via = self.proxies.get(name)
        if via is None:
            raise errors.ValidationError(f"no proxy named {name!r}", field="proxy")
        return via

    async def channel(self, upstream: str | None = None) -> Channel:
        """A new channel; through the configured proxy named ``upstream``, if any."""
        channel = await Channel(self.guard, self.upstream(upstream) if upstream else None).start()
        self._channels.add(channel)
        return channel

    async def release(self, channel: Channel) -> None:
        self._channels.discard(channel)
        await channel.close()

    async def close(self) -> None:
        for channel in list(self._channels):
            await channel.close()
        self._channels.clear()


def _refusal_response(reason: str, message: str) -> bytes:
    status, phrase = _STATUS.get(reason, (403, "Forbidden"))
    return (f"HTTP/1.1 {status} {phrase}\r\n{MARKER}: {reason}\r\nContent-Length: 0\r\n"
            "Connection: close\r\nProxy-Connection: close\r\n\r\n").encode()


class _Side(asyncio.Protocol):
    """Half of a pipe: what arrives here is written to ``peer``, with back-pressure."""

    # uvloop's transports are not asyncio.Transport subclasses, only alike.
    transport: asyncio.Transport | None = None
    peer: _Side | None = None

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def forward(self, data: bytes) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)

    def eof_received(self) -> bool:
        peer = self.peer.transport if self.peer is not None else None
        if peer is not None and peer.can_write_eof() and not peer.is_closing():
            peer.write_eof()
            return True  # keep the other direction open until it ends too
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()  # after what is buffered has been written

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class _Client(_Side):
    """Chromium's side of one proxy connection."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.head = bytearray()
        self.piping = False
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.channel._clients.add(self)
        self.timer = asyncio.get_running_loop().call_later(HEAD_TIMEOUT_S, self.transport.abort)

    def data_received(self, data: bytes) -> None:
        if self.piping:
            self.forward(data)
            return
        self.head += data
        if self.task is not None:
            return  # connecting; what arrives now is sent once the upstream is open
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > MAX_HEAD_BYTES:
                self._reply_and_close(_refusal_response("bad_request", "request head too large"))
            return
        assert self.transport is not None
        self.transport.pause_reading()
        if self.timer is not None:
            self.timer.cancel()
        self.task = asyncio.get_running_loop().create_task(self._open(end + 4))

    def connection_lost(self, exc: Exception | None) -> None:
        self.channel._clients.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        if self.task is not None and not self.task.done():
            self.task.cancel()
        super().connection_lost(exc)

    def _reply_and_close(self, response: bytes) -> None:
        assert self.transport is not None
        self.transport.write(response)
        self.transport.close()

    async def _open(self, head_end: int) -> None:
        head = bytes(self.head[:head_end])
        lines = head.split(b"\r\n")
        try:
            method, target, version = lines[0].decode("latin-1").split(" ")
        except ValueError:
            self._reply_and_close(_refusal_response("bad_request", "malformed request line"))
            return
        connect = method.upper() == "CONNECT"
        try:
            if connect:
                host, port = _authority(target)
            else:
                parts = urlsplit(target)
                if parts.scheme.lower() != "http" or not parts.hostname:
                    raise ValueError(f"not an absolute http URL: {target[:200]}")
                host, port = parts.hostname, parts.port or 80
        except ValueError as exc:
            self.channel.refuse("bad_request", "", 0, str(exc))
            self._reply_and_close(_refusal_response("bad_request", str(exc)))
            return
        name = str(canonical_host(host))
        upstream = _Upstream(rewrite_response=not connect)
        via = self.channel.upstream
        try:
            await self.channel.guard.connect(
                host, port, lambda address: _create(upstream, address, port) if via is None
                else tunnel(via, address, port, upstream))
        except errors.Blocked as exc:
            self._refuse("blocked", name, port, exc.message, target)
            return
        except UpstreamFailed as exc:
            self._refuse("upstream", name, port, str(exc), target)
            return
        except Unreachable as exc:
            self._refuse(exc.reason, name, port, str(exc), target)
            return
        except Exception as exc:  # noqa: BLE001 - the proxy must answer whatever went wrong
            log.warning("egress proxy: %r", exc)
            self._refuse("refused", name, port, "the connection failed", target)
            return
        assert self.transport is not None
        if self.transport.is_closing():
            upstream.abort()
            return
        self.peer, upstream.peer = upstream, self
        rest = bytes(self.head[head_end:])
        self.head = bytearray()
        self.piping = True
        if connect:
            self.transport.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        else:
            self.forward(_origin_form(lines, target, version))
        if rest:
            self.forward(rest)
        self.transport.resume_reading()

    def _refuse(self, reason: str, host: str, port: int, message: str, target: str) -> None:
        self.channel.refuse(reason, host, port, message, target)
        self._reply_and_close(_refusal_response(reason, message))


class _Upstream(_Side):
    """The connection to the checked address. For plain http, the response head is rewritten
    with ``Connection: close`` (interim 1xx heads pass as they are)."""

    def __init__(self, rewrite_response: bool) -> None:
        self.rewrite = rewrite_response
        self.head = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self.rewrite:
            self.forward(data)
            return
        self.head += data
        while self.rewrite:
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if len(self.head) > MAX_HEAD_BYTES:
                    self.rewrite = False  # not a response we can read; pass it on as it is
                    self.forward(bytes(self.head))
                return
            head, self.head = bytes(self.head[:end + 4]), self.head[end + 4:]
            status = head[9:12]
            if status.startswith(b"1") and status != b"101":
                self.forward(head)
                continue
            self.forward(_closing_head(head))
            self.rewrite = False
        if self.head:
            self.forward(bytes(self.head))
            self.head = bytearray()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.head:  # a response that ended inside its head: pass on what there was
            self.forward(bytes(self.head))
            self.head = bytearray()
        super().connection_lost(exc)


async def _create(upstream: _Upstream, address: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    await loop.create_connection(lambda: upstream, address, port)


def _authority(target: str) -> tuple[str, int]:
    """``host:port`` of a CONNECT request (IPv6 in brackets)."""
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        port = rest[1:]
    else:
        host, _, port = target.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad CONNECT target {target[:200]!r}")
    return host, int(port)


def _origin_form(lines: list[bytes], target: str, version: str) -> bytes:
    """The absolute-form request head, rewritten for the origin: origin-form target, no
    hop-by-hop or proxy headers, ``Connection: close``."""
    parts = urlsplit(target)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    method = lines[0].split(b" ", 1)[0]
    out = [method + b" " + path.encode("latin-1") + b" " + version.encode("latin-1")]
    named = {token.strip().lower() for line in lines[1:] if line.lower().startswith(b"connection:")
             for token in line.split(b":", 1)[1].split(b",")}
    has_host = False
    for line in lines[1:]:
        if not line:
            continue
        name = line.split(b":", 1)[0].strip().lower()
        if name in _HOP_BY_HOP or name in named:
            continue
        has_host = has_host or name == b"host"
        out.append(line)
    if not has_host:
        out.append(b"Host: " + parts.netloc.rsplit("@", 1)[-1].encode("latin-1"))
    out.append(b"Connection: close")
    return b"\r\n".join(out) + b"\r\n\r\n"


def _closing_head(head: bytes) -> bytes:
    lines = [line for line in head[:-4].split(b"\r\n")
             if line.split(b":", 1)[0].strip().lower() not in (b"connection", b"proxy-connection",
                                                                b"keep-alive")]
    lines += [b"Connection: close", b"Proxy-Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n"

