"""Upstream proxies (``PROXIES``): their names, addresses, credentials and tags, and choosing one.

``PROXIES`` is a comma-separated list of ``name=URL`` with optional ``;tag=value`` after the URL::

    de1=http://user:pass@proxy.example:8080;country=DE;city=Berlin,us=socks5://10.0.0.9:1080;country=US

Schemes: ``http`` and ``https`` (the connection to the proxy itself is TLS), and ``socks5``.
Credentials in the URL are percent-decoded (a ``,`` or ``;`` in a password is ``%2C`` / ``%3B``).
A request picks one with ``proxy`` (its name) or ``proxy_country``, ``proxy_region`` and
``proxy_city`` (tags, compared without regard to case; the first proxy in ``PROXIES`` order
that has them all).

Credentials are never shown: :meth:`UpstreamProxy.describe` and every message here name a proxy
by its name, scheme, host and port only.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

SCHEMES = ("http", "https", "socks5")
DEFAULT_PORTS = {"http": 8080, "https": 443, "socks5": 1080}
#: The tags a request can select by, and the parameter that selects by each.
TAG_PARAMS = {"country": "proxy_country", "region": "proxy_region", "city": "proxy_city"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_USERINFO = re.compile(r"//[^/@]*@")


class ProxyConfigError(ValueError):
    """A ``PROXIES`` entry that cannot be used; the message names it, without credentials."""


class NoSuchProxy(ValueError):
    """No configured proxy matches a request; ``field`` is the parameter to blame."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class UpstreamProxy:
    """One upstream proxy. ``repr`` and :meth:`describe` leave the credentials out."""

    name: str
    scheme: str
    host: str
    port: int
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    tags: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        """How logs and errors name it: ``de1 (http://proxy.example:8080)``."""
        return f"{self.name} ({self.scheme}://{self.host}:{self.port})"

    def tag(self, key: str) -> str | None:
        return dict(self.tags).get(key)

    @property
    def authorization(self) -> str | None:
        """``Proxy-Authorization`` for an http(s) proxy with credentials."""
        if not self.username and not self.password:
            return None
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return f"Basic {token}"


@dataclass(frozen=True)
class ProxyTable:
    """The configured proxies, in ``PROXIES`` order."""

    proxies: tuple[UpstreamProxy, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.proxies)

    def __iter__(self) -> Iterator[UpstreamProxy]:
        return iter(self.proxies)

    def get(self, name: str) -> UpstreamProxy | None:
        return next((p for p in self.proxies if p.name == name), None)

    def select(self, name: str | None, tags: dict[str, str]) -> UpstreamProxy:
        """The proxy a request names, or the first with all its tags; :class:`NoSuchProxy`
        (naming what exists) when there is none."""
        if not self.proxies:
            raise NoSuchProxy("this server has no upstream proxies (PROXIES is not set)",
                              "proxy" if name else TAG_PARAMS[next(iter(tags))])
        candidates = list(self.proxies)
        if name is not None:
            found = self.get(name)
            if found is None:
                raise NoSuchProxy(f"no proxy named {name!r}; there are "
                                  f"{', '.join(p.name for p in self.proxies)}", "proxy")
            candidates = [found]
        for proxy in candidates:
            if all((proxy.tag(key) or "").lower() == value.lower() for key, value in tags.items()):
                return proxy
        wanted = ", ".join(f"{TAG_PARAMS[k]}={v}" for k, v in tags.items())
        raise NoSuchProxy(f"no proxy has {wanted}; the tags there are: {self.existing_tags()}",
                          "proxy" if name is not None else TAG_PARAMS[next(iter(tags))])

    def existing_tags(self) -> str:
        """The tags there are, for an error: ``country: DE, US; city: Berlin``."""
        seen: dict[str, list[str]] = {}
        for proxy in self.proxies:
            for key, value in proxy.tags:
                if key in TAG_PARAMS and value not in seen.setdefault(key, []):
                    seen[key].append(value)
        return "; ".join(f"{key}: {', '.join(values)}" for key, values in seen.items()) or "none"

    def health(self) -> list[dict[str, object]]:
        """For ``/health``: names, schemes, hosts, ports and tags; never credentials."""
        return [{"name": p.name, "scheme": p.scheme, "host": p.host, "port": p.port,
                 "tags": dict(p.tags)} for p in self.proxies]


def redact(text: str) -> str:
    """``text`` with any ``//user:pass@`` in it replaced by ``//***@``."""
    return _USERINFO.sub("//***@", text)


def parse_proxies(raw: str) -> ProxyTable:
    """``PROXIES`` as a table; :class:`ProxyConfigError` names a bad entry (redacted)."""
    return ProxyTable(tuple(_entries(entry.strip() for entry in raw.split(",") if entry.strip())))


def _entries(entries: Iterable[str]) -> Iterator[UpstreamProxy]:
    names: set[str] = set()
    for entry in entries:
        shown = redact(entry)[:200]
        name, eq, rest = entry.partition("=")
        name = name.strip()
        if not eq or not _NAME.fullmatch(name):
            raise ProxyConfigError(f"{shown!r}: expected name=URL (a name of letters, digits, "
                                   "_ . -)")
        if name in names:
            raise ProxyConfigError(f"{name!r} is named twice")
        names.add(name)
        url, *tag_parts = rest.split(";")
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise ProxyConfigError(f"{shown!r}: not a URL") from None
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise ProxyConfigError(f"{name}: the scheme must be http, https or socks5, not "
                                   f"{scheme or 'none'!r}")
        if not parts.hostname or parts.path not in ("", "/") or parts.query:
            raise ProxyConfigError(f"{shown!r}: expected scheme://[user:pass@]host:port")
        tags: list[tuple[str, str]] = []
        for part in tag_parts:
            key, eq, value = part.partition("=")
            key, value = key.strip().lower(), value.strip()
            if not eq or not key or not value:
                raise ProxyConfigError(f"{name}: a tag is key=value, not {part.strip()!r}")
            tags.append((key, value))
        yield UpstreamProxy(name, scheme, parts.hostname, port or DEFAULT_PORTS[scheme],
                            unquote(parts.username or ""), unquote(parts.password or ""),
                            tuple(tags))


ProxyName = Annotated[str, Field(min_length=1, max_length=64)]


class ProxyFields(BaseModel):
    """The options that send a capture through an upstream proxy (mixed into the render
    options: keyed, since a page may differ by where it is seen from)."""

    #: A mixin, never validated alone: only the whole options model is built.
    model_config = ConfigDict(defer_build=True)

    proxy: ProxyName | None = Field(
        default=None, description="The upstream proxy to go out through, by name (PROXIES).")
    proxy_country: ProxyName | None = Field(
        default=None, description="Go out through a proxy tagged with this country.")
    proxy_region: ProxyName | None = Field(
        default=None, description="Go out through a proxy tagged with this region.")
    proxy_city: ProxyName | None = Field(
        default=None, description="Go out through a proxy tagged with this city.")


def resolve_proxy(opts: Any, table: ProxyTable, set_: Any) -> None:
    """Settle a capture's proxy: ``proxy`` becomes the chosen proxy's name and the tag fields
    are cleared, so every way of choosing the same proxy is the same capture (and cache key).
    A 400 naming the field when none matches."""
    tags = {key: getattr(opts, param) for key, param in TAG_PARAMS.items()
            if getattr(opts, param) is not None}
    if opts.proxy is None and not tags:
        return
    try:
        chosen = table.select(opts.proxy, tags)
    except NoSuchProxy as exc:
        raise PydanticCustomError("proxy", "{message}",
                                  {"message": str(exc), "field": exc.field}) from None
    set_(opts, "proxy", chosen.name)
    for param in TAG_PARAMS.values():
        set_(opts, param, None)
