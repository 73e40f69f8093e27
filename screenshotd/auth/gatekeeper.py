"""Who is calling, whether they may, and how often: checked before anything else runs.

:class:`Gatekeeper` admits a request, or refuses it with an error from the tree:

- **Open paths** (``/health``, the playground ``/``, ``/docs``, ``/openapi.json``, ``/static/…``,
  and ``/metrics`` unless ``METRICS_REQUIRE_KEY``) need nothing and are not counted.
- **A signed URL** (``GET /screenshot`` with ``signature=``, when ``SIGNING_SECRET`` is set) is
  admitted by its signature (:mod:`~screenshotd.auth.signing`); a bad or expired one is 401.
- **API keys** (``API_KEYS``): every other request must carry one, as ``X-Api-Key: <key>``,
  ``Authorization: Bearer <key>`` or ``?api_key=<key>``; otherwise 401 ``UNAUTHORIZED``. A key
  may be limited to some hosts (``k2:example.com|*.example.org``); a capture of another host
  is 403 ``DOMAIN_NOT_ALLOWED`` (:func:`check_target`).
- **Rate limits** (``MAX_REQUESTS_PER_MINUTE``, :mod:`~screenshotd.auth.ratelimit`): per key, or per
  client IP when there are no keys (and for signed URLs, whose callers are the public). They
  meter work that may render, not requests: :meth:`Gatekeeper.meter` is called by the roads
  that render (a capture that misses the cache, an async submission, each batch item, each page
  of a diff). A cache hit, a 304, ``/images`` and reading one's own jobs are never counted.

Keys are compared in constant time: the SHA-256 of what was sent against the SHA-256 of every
key, each with :func:`hmac.compare_digest`, all of them every time. A request is known by the
key's *id* (a prefix of that hash), never by the key: jobs and batches belong to it, and logs
name it. Keys are never logged: logged URLs have ``api_key=``, ``signature=`` and
``webhook_secret=`` values masked, and the access log writes no query at all.

:class:`Gate` is the ASGI middleware (inside CORS, so that a browser can read a 401). The hit
path calls the same :meth:`Gatekeeper.admit` first and leaves its verdict in the scope, so a
request is checked once wherever it is answered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from screenshotd import errors
from screenshotd.auth.ratelimit import RateLimiter
from screenshotd.auth.signing import Signer, query_pairs

#: Paths that need no key and are not counted: probes, and the pages that explain the API.
OPEN_PATHS = frozenset({"/health", "/", "/docs", "/openapi.json", "/favicon.ico"})
OPEN_PREFIX = "/static/"

#: Query parameters whose values are secrets: masked wherever a URL is logged.
_SECRET_IN_QUERY = re.compile(
    r"((?:^|[?&;])(?:api_key|webhook_secret|signature)=)[^&;#\s]*", re.IGNORECASE)

_HOST_PATTERN = re.compile(r"(\*\.)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")


def key_id(key: str) -> str:
    """A key's public name: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request acts for. ``id`` owns jobs and batches and is what rate limits count:
    ``key:<key id>``, or ``ip:<address>``. ``domains`` are the hosts it may capture (None: any):
    ``example.com`` is that host alone, ``*.example.org`` any host under example.org."""

    id: str
    domains: tuple[str, ...] | None = None

    def may_see(self, url: str | None) -> bool:
        """Whether a result captured from ``url`` (None: raw html) may be shown to this caller:
        one it could have made itself."""
        if self.domains is None:
            return True
        return url is not None and self.may_capture(urlsplit(url).hostname or "")

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
    """The configured keys, kept only as SHA-256 digests, each with its allowed domains.

    ``entries`` are ``API_KEYS`` items: ``key`` or ``key:host|*.domain|…``. Raises ValueError
    for a bad domain list.
    """

    def __init__(self, entries: tuple[str, ...]) -> None:
        self._keys: list[tuple[bytes, Caller]] = []
        for entry in entries:
            key, sep, domains = entry.partition(":")
            key = key.strip()
            if not key:
                raise ValueError("an API key is empty")
            caller = Caller(f"key:{key_id(key)}", parse_domains(domains) if sep else None)
            self._keys.append((hashlib.sha256(key.encode("utf-8")).digest(), caller))

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def identify(self, presented: str | None) -> Caller | None:
        """The caller for a valid key, else None; the time taken does not depend on which key
        matched, or how much of one."""
        if not presented:
            return None
        digest = hashlib.sha256(presented.encode("utf-8")).digest()
        found = None
        for known, caller in self._keys:
            if hmac.compare_digest(digest, known):
                found = caller
        return found


def presented_key(scope: Scope) -> str | None:
    """The key a request carries: ``X-Api-Key``, ``Authorization: Bearer``, or ``?api_key=``."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"x-api-key":
            return value.decode("latin-1").strip()
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    query: bytes = scope.get("query_string", b"")
    if b"api_key=" in query:
        for param, given in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if param == "api_key":
                return given
    return None


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


class Gatekeeper:
    """Keys, signatures and rate limits, shared by :class:`Gate` and the hit path."""

    def __init__(self, keys: KeyRing, signer: Signer | None = None,
                 limiter: RateLimiter | None = None, metrics_open: bool = True) -> None:
        self.keys = keys
        self.signer = signer
        self.limiter = limiter
        self.open_paths = OPEN_PATHS | ({"/metrics"} if metrics_open else set())
        self.rate_limited = 0

    @property
    def active(self) -> bool:
        """Whether any request could be refused here."""
        return self.keys.enabled or self.signer is not None or self.limiter is not None

    def is_open(self, path: str) -> bool:
        return path in self.open_paths or path.startswith(OPEN_PREFIX)

    async def admit(self, scope: Scope) -> Caller | None:
        """The request's caller, or an error (401). None for an open path. The verdict is kept
        in the scope, so a second call for the same request does not check again."""
        state = scope.setdefault("state", {})
        if "admitted" in state:
            verdict: Caller | errors.ScreenshotError | None = state["admitted"]
            if isinstance(verdict, errors.ScreenshotError):
                raise verdict
            return verdict
        try:
            caller = await self._admit(scope)
        except errors.ScreenshotError as exc:
            state["admitted"] = exc
            raise
        state["admitted"] = caller
        if caller is not None:
            state["caller"] = caller.id
            state["caller_domains"] = caller.domains
        return caller

    async def _admit(self, scope: Scope) -> Caller | None:
        path = scope["path"]
        if self.is_open(path):
            return None
        return self._identify(scope, path)

    async def meter(self, scope: Scope, units: int = 1) -> None:
        """Count ``units`` of work that may render against the request's caller, or refuse it
        with 429 ``RATE_LIMITED``. Nothing to do without a limit."""
        if self.limiter is None:
            return
        caller = scope.get("state", {}).get("caller") or f"ip:{client_ip(scope)}"
        retry_after = await self.limiter.hit(caller, units)
        if retry_after:
            self.rate_limited += 1
            what = "render" if units == 1 else f"{units} renders"
            raise errors.RateLimited(
                f"{what} would go over the limit of {self.limiter.limit} renders a minute "
                f"(cache hits are not counted); retry in {retry_after} s",
                retry_after=retry_after)

    def _identify(self, scope: Scope, path: str) -> Caller:
        query = scope.get("query_string", b"")
        if self.signer is not None and b"signature=" in query:
            pairs = query_pairs(query)
            if any(name == "signature" for name, _ in pairs):
                if path != "/screenshot" or scope["method"] not in ("GET", "HEAD"):
                    raise errors.Unauthorized("only GET /screenshot takes a signature")
                self.signer.verify(pairs)
                return Caller(f"ip:{client_ip(scope)}")
        if not self.keys.enabled:
            return Caller(f"ip:{client_ip(scope)}")
        presented = presented_key(scope)
        caller = self.keys.identify(presented)
        if caller is None:
            if presented is None:
                raise errors.Unauthorized("an API key is required: send it as X-Api-Key, "
                                          "Authorization: Bearer, or ?api_key=")
            raise errors.Unauthorized("the API key is not valid")
        return caller

    async def close(self) -> None:
        if self.limiter is not None:
            await self.limiter.close()

    def health(self) -> dict[str, object]:
        return {
            "api_keys": self.keys.enabled,
            "signed_urls": self.signer is not None,
            "rate_limit": self.limiter.health() if self.limiter is not None else None,
        }


class Gate:
    """ASGI middleware: admit the request (:meth:`Gatekeeper.admit`) or answer its error."""

    def __init__(self, app: ASGIApp, gatekeeper: Gatekeeper) -> None:
        self.app = app
        self.gatekeeper = gatekeeper

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        try:
            await self.gatekeeper.admit(scope)
        except errors.ScreenshotError as exc:
            await send_error(send, exc)
            return
        await self.app(scope, receive, send)


async def send_error(send: Send, error: errors.ScreenshotError) -> None:
    """An error's JSON answer, straight to ASGI (the gate runs before Starlette's handlers)."""
    body = json.dumps(error.to_dict()).encode("utf-8")
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1"))
                for k, v in error.headers().items()]
    if isinstance(error, errors.Unauthorized):
        headers.append((b"www-authenticate", b'Bearer realm="screenshotd"'))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def caller_of(scope: Scope) -> Caller | None:
    """Who the gatekeeper admitted this request as; None when nobody checked (no keys, no
    limits) or for an open path."""
    state = scope.get("state", {})
    name = state.get("caller")
    return None if name is None else Caller(str(name), state.get("caller_domains"))


def check_target(scope: Scope, url: str | None, field: str = "url") -> None:
    """403 ``DOMAIN_NOT_ALLOWED`` unless the request's key may capture ``url``; a key limited
    to some domains may not render raw ``html`` (``url`` None), which could load anything."""
    domains = scope.get("state", {}).get("caller_domains")
    if domains is None:
        return
    caller = Caller("", domains)
    allowed = " | ".join(domains)
    if url is None:
        raise errors.DomainNotAllowed(
            f"this API key may capture only {allowed}; raw html is not allowed", field="html")
    host = urlsplit(url).hostname or ""
    if not caller.may_capture(host):
        raise errors.DomainNotAllowed(
            f"this API key may not capture {host}; it may capture only {allowed}", field=field)


def mask_secrets(text: str) -> str:
    """``?url=…&api_key=k&webhook_secret=s`` as ``?url=…&api_key=***&webhook_secret=***``."""
    return _SECRET_IN_QUERY.sub(r"\1***", text)


class MaskSecrets(logging.Filter):
    """For uvicorn's access log (off under ``screenshotd serve``, which writes its own), whose
    records carry the request's path and query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
                isinstance(a, str) and "=" in a for a in record.args):
            record.args = tuple(mask_secrets(a) if isinstance(a, str) else a
                                for a in record.args)
        return True


def mask_access_log() -> None:
    """Install :class:`MaskSecrets` on uvicorn's access logger (once)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, MaskSecrets) for f in logger.filters):
        logger.addFilter(MaskSecrets())
