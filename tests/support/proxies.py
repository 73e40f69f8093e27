"""Local forward proxies for the upstream-proxy tests: HTTP CONNECT or SOCKS5, optionally with a
username and password, counting every connection and recording every tunnel asked of them."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import ssl
import struct
import subprocess
from pathlib import Path

from tests.support.servers import free_port


class ForwardProxy:
    """``kind`` is ``http`` (CONNECT only, as the egress proxy uses it) or ``socks5``."""

    def __init__(self, kind: str, username: str = "", password: str = "",
                 tls: ssl.SSLContext | None = None) -> None:
        """``tls``: serve over TLS with this context (an ``https`` proxy)."""
        self.kind, self.username, self.password, self.tls = kind, username, password, tls
        self.port = free_port()
        self.connections = 0
        #: (host, port) of every tunnel asked for, in order, and the ones refused for bad login.
        self.tunnels: list[tuple[str, int]] = []
        self.refused_logins = 0
        self._server: asyncio.Server | None = None

    def url(self, username: str | None = None, password: str | None = None) -> str:
        user = username if username is not None else self.username
        secret = password if password is not None else self.password
        login = f"{user}:{secret}@" if user or secret else ""
        if self.tls is not None:
            return f"https://{login}localhost:{self.port}"
        return f"{self.kind}://{login}127.0.0.1:{self.port}"

    async def __aenter__(self) -> ForwardProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port,
                                                  ssl=self.tls)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            target = await (self._http(reader, writer) if self.kind == "http"
                            else self._socks5(reader, writer))
            if target is None:
                return
            far_reader, far_writer = target
            await asyncio.gather(_pipe(reader, far_writer), _pipe(far_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ValueError, asyncio.CancelledError):
            pass  # a connection cut, or the proxy closing: this handler ends quietly
        finally:
            writer.close()

    async def _http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        method, target, _ = head.split("\r\n", 1)[0].split(" ")
        if method != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return None
        if self.username or self.password:
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            if f"proxy-authorization: basic {expected}".lower() not in head.lower():
                self.refused_logins += 1
                writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                             b"Proxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n")
                return None
        host, _, port = target.rpartition(":")
        host = host.strip("[]")
        self.tunnels.append((host, int(port)))
        try:
            far = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return None
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        return far

    async def _socks5(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                      ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        _, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        login = bool(self.username or self.password)
        if login and 2 not in methods or not login and 0 not in methods:
            writer.write(b"\x05\xff")
            return None
        writer.write(b"\x05\x02" if login else b"\x05\x00")
        if login:
            _, size = await reader.readexactly(2)
            user = await reader.readexactly(size)
            size = (await reader.readexactly(1))[0]
            secret = await reader.readexactly(size)
            if (user.decode(), secret.decode()) != (self.username, self.password):
                self.refused_logins += 1
                writer.write(b"\x01\x01")
                return None
            writer.write(b"\x01\x00")
        _, command, _, kind = await reader.readexactly(4)
        if command != 1 or kind not in (1, 4):
            writer.write(b"\x05\x07\x00\x01" + bytes(6))
            return None
        host = str(ipaddress.ip_address(await reader.readexactly(4 if kind == 1 else 16)))
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        self.tunnels.append((host, port))
        try:
            far = await asyncio.open_connection(host, port)
        except OSError:
            writer.write(b"\x05\x05\x00\x01" + bytes(6))
            return None
        writer.write(b"\x05\x00\x00\x01" + bytes(6))
        return far


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.close()


def tls_for_localhost(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A self-signed certificate for ``localhost``: the server's TLS context, and the file to
    trust it with (``SSL_CERT_FILE``)."""
    cert, key = folder / "localhost.pem", folder / "localhost.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context, cert
