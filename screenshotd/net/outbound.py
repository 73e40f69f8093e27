"""Requests the server itself makes for a user (webhook deliveries), through the guard.

A user names the URL, so it gets the same private-network guard as every request Chromium makes:
the host is resolved once, every address is checked, and the connection goes to exactly a checked
address (TLS still verifies the name). A redirect is never followed; the caller sees the 3xx. The
whole exchange has one deadline, and at most ``max_body`` bytes of the answer are read.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import h11

from screenshotd import errors
from screenshotd.net.addresses import default_port
from screenshotd.net.egress import Guard, Unreachable
from screenshotd.version import __version__

DEFAULT_TIMEOUT_S = 10.0
MAX_BODY_BYTES = 64 * 1024


@dataclass
class OutboundResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


async def send(
    guard: Guard,
    url: str,
    *,
    method: str = "POST",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    deadline_s: float = DEFAULT_TIMEOUT_S,
    max_body: int = MAX_BODY_BYTES,
) -> OutboundResponse:
    """One HTTP/1.1 request to ``url`` through ``guard``; the response, 3xx included.

    Raises :class:`~screenshotd.errors.Blocked` for a refused address,
    :class:`~screenshotd.errors.InvalidURL` for a URL that is not http(s),
    :class:`~screenshotd.net.egress.Unreachable` when the host cannot be reached, TimeoutError past
    ``deadline_s``, and OSError or ``h11.ProtocolError`` for a broken exchange.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.InvalidURL(f"not an http(s) URL: {url[:200]}", field="url")
    host, port = parts.hostname, parts.port or default_port(parts.scheme)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    context = ssl.create_default_context() if parts.scheme == "https" else None
    async with asyncio.timeout(deadline_s):
        reader, writer = await guard.open_connection(host, port, ssl=context)
        try:
            return await _exchange(reader, writer, method, parts.netloc.rsplit("@", 1)[-1],
                                   target, headers or [], body, max_body)
        finally:
            writer.close()


async def _exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    method: str,
    authority: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    max_body: int,
) -> OutboundResponse:
    conn = h11.Connection(h11.CLIENT)
    sent = [("Host", authority), ("User-Agent", f"screenshotd/{__version__}"),
            ("Content-Length", str(len(body))), ("Connection", "close"), *headers]
    writer.write(conn.send(h11.Request(method=method, target=target, headers=sent)) or b"")
    if body:
        writer.write(conn.send(h11.Data(data=body)) or b"")
    writer.write(conn.send(h11.EndOfMessage()) or b"")
    await writer.drain()
    response: OutboundResponse | None = None
    chunks: list[bytes] = []
    size = 0
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(65536))
            continue
        if isinstance(event, h11.Response):
            response = OutboundResponse(
                event.status_code,
                [(name.decode("latin-1"), value.decode("latin-1")) for name, value in event.headers],
            )
        elif isinstance(event, h11.Data) and size < max_body:
            chunks.append(bytes(event.data[: max_body - size]))
            size += len(chunks[-1])
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed) or size >= max_body:
            break
    if response is None:
        raise Unreachable("refused", f"{authority} closed the connection without a response")
    response.body = b"".join(chunks)
    return response
