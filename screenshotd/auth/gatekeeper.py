"""Who is calling, whether they may, and how often: checked before anything else runs.

:class:`Gatekeeper` admits a request, or refuses it with an error from the tree:

- **Open paths** (``/health``, the playground ``/``, ``/docs``, ``/openapi.json``, ``/static/…``,
  and ``/metrics`` unless ``METRICS_REQUIRE_KEY``) need nothing and are not counted.
- **A signed URL** (``GET /screenshot`` with ``signature=``, or a signed link to a stored result,
  ``GET /results/…``, when ``SIGNING_SECRET`` is set) is admitted by its signature (:mod:`~screenshotd.auth.signing`); a bad or expired one is 401.
- **API keys** (``API_KEYS``, and the named keys of ``API_KEYS_FILE``, :mod:`~screenshotd.auth.accounts`):
  every other request must carry one, as ``X-Api-Key: <key>``,
  ``Authorization: Bearer <key>`` or ``?api_key=<key>``; otherwise 401 ``UNAUTHORIZED``. A key
  may be limited to some hosts (``k2:example.com|*.example.org``); a capture of another host
  is 403 ``DOMAIN_NOT_ALLOWED``.
- **Rate limits** (``MAX_REQUESTS_PER_MINUTE``, :mod:`~screenshotd.auth.ratelimit`): per key, or per
  client IP when there are no keys (and for signed URLs, whose callers are the public). They
  meter work that may render, not requests.

The verdict is a :class:`~screenshotd.auth.callers.Caller` (its id, its domains, its limiter).
The gatekeeper only decides who is calling; what the caller may capture and when it is charged
are decided by the service, for that caller (a capture that misses the cache, an async
submission, each batch item, each page of a diff is charged; a cache hit, a 304, ``/images``
and reading one's own jobs never are).

Keys are looked up by the SHA-256 of what was sent, in a table: no comparison runs on the key
itself, the time taken tells nothing about how near a guess is, and the cost does not grow with
the number of keys. A request is known by the
key's *id* (a prefix of that hash), never by the key: jobs and batches belong to it, and logs
name it. Keys are never logged: logged URLs have ``api_key=``, ``signature=`` and
``webhook_secret=`` values masked, and the access log writes no query at all.

:class:`Gate` is the ASGI middleware (inside CORS, so that a browser can read a 401). The hit
path calls the same :meth:`Gatekeeper.admit` first and leaves its verdict in the scope, so a
request is checked once wherever it is answered.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from screenshotd import errors
from screenshotd.auth.accounts import Account, KeysFile
from screenshotd.auth.callers import Caller, KeyRing
from screenshotd.auth.ratelimit import RateLimiter
from screenshotd.auth.signing import Signer, query_pairs
from screenshotd.auth.usage import Usage

#: Paths that need no key and are not counted: probes, and the pages that explain the API.
OPEN_PATHS = frozenset({"/health", "/", "/docs", "/openapi.json", "/favicon.ico"})
#: The playground's files, the signed links the seed APIs' faces and the monitors hand out (each
#: checks its own signature: ``screenshotd.http.dialects.base``), and the monitors' widgets
#: (each opened by its own token: ``screenshotd.http.widgets``).
OPEN_PREFIXES = ("/static/", "/links/", "/widget/")

#: Query parameters whose values are secrets: masked wherever a URL is logged.
_SECRET_IN_QUERY = re.compile(
    r"((?:^|[?&;])(?:api_key|key|webhook_secret|signature)=)[^&;#\s]*", re.IGNORECASE)

#: Stored results (``GET /results/{id}/{output}``): a signed link opens one without a key.
RESULTS_PREFIX = "/results/"


def presented_key(scope: Scope, query_names: tuple[str, ...] | None = None) -> str | None:
    """The key a request carries: ``X-Api-Key``, ``Authorization: Bearer``, or ``?api_key=``;
    on an event stream (``/jobs/{id}/events``) also ``?key=``, since a browser's
    ``EventSource`` cannot send headers. ``query_names``, when given, are the only query
    parameters that may carry it (a seed API's face takes one only where its document does)."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"x-api-key":
            return value.decode("latin-1").strip()
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    query: bytes = scope.get("query_string", b"")
    if b"key=" in query:
        names = query_names if query_names is not None else (
            ("api_key", "key") if scope["path"].endswith("/events") else ("api_key",))
        for param, given in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if param in names:
                return given
    return None


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


class Gatekeeper:
    """Keys, signatures and rate limits, shared by :class:`Gate` and the hit path."""

    def __init__(self, keys: KeyRing, signer: Signer | None = None,
                 limiter: RateLimiter | None = None, metrics_open: bool = True,
                 keys_file: KeysFile | None = None, usage: Usage | None = None,
                 per_caller_cap: int | None = None) -> None:
        self.keys = keys.metered_by(limiter, usage)
        #: ``MAX_CONCURRENT_PER_CALLER`` when the operator set it: every caller's hard cap of
        #: browser slots, unless its named key has a ``max_concurrent`` of its own.
        self.per_caller_cap = per_caller_cap
        self.keys_file = keys_file
        self.usage = usage
        self.signer = signer
        self.limiter = limiter
        self.open_paths = OPEN_PATHS | ({"/metrics"} if metrics_open else set())
        self._callers: dict[Account, Caller] = {}
        #: Set by the app when it serves the seed APIs' faces: the query parameters that may
        #: carry a key on a path (None: the native rule), and a face's error answer for a
        #: path under it (None: the native one).
        self.query_keys: Callable[[str], tuple[str, ...] | None] = lambda path: None
        self.error_answer: Callable[[str, errors.ScreenshotError],
                                    tuple[int, dict[str, Any], dict[str, str]] | None] = (
            lambda path, error: None)

    @property
    def keys_required(self) -> bool:
        """Whether every request but the open ones needs a key (API_KEYS or API_KEYS_FILE)."""
        return self.keys.enabled or self.keys_file is not None

    @property
    def rate_limited(self) -> int:
        """Renders refused by the rate limit since the start."""
        return self.limiter.refused if self.limiter is not None else 0

    @property
    def active(self) -> bool:
        """Whether any request could be refused here."""
        return self.keys_required or self.signer is not None or self.limiter is not None

    def slot_cap(self, owner: str) -> int | None:
        """The most browser slots the caller ``owner`` (a caller's id) may hold at once: its
        named key's ``max_concurrent``, else ``MAX_CONCURRENT_PER_CALLER`` when set, else
        None (no cap of its own: a caller alone may use every slot). By id, so that a queued
        job, which knows only its owner, is held to its key's cap on any replica."""
        if self.keys_file is not None and owner.startswith("key:"):
            account = self.keys_file.by_id.get(owner[4:])
            if account is not None and account.max_concurrent is not None:
                return account.max_concurrent
        return self.per_caller_cap

    def caller_for(self, owner: str) -> Caller:
        """The metered caller behind an owner id, for work that runs later on its own (a
        monitor's check): its named key (domains, rate limit, quota), its key of ``API_KEYS``,
        or its address, rate-limited as a keyless caller is."""
        if self.keys_file is not None and owner.startswith("key:"):
            account = self.keys_file.by_id.get(owner[4:])
            if account is not None and not account.revoked:
                return self._account_caller(account)
        found = self.keys.by_id(owner)
        if found is not None:
            return found
        if owner.startswith("key:"):
            raise errors.Unauthorized("the key that owns this monitor is no longer valid")
        return Caller(owner, limiter=self.limiter)

    def is_open(self, path: str) -> bool:
        return path in self.open_paths or path.startswith(OPEN_PREFIXES)

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
            state["caller"] = caller.id  # for the access log
        return caller

    async def _admit(self, scope: Scope) -> Caller | None:
        path = scope["path"]
        if self.is_open(path):
            return None
        return self._identify(scope, path)

    def _identify(self, scope: Scope, path: str) -> Caller:
        query = scope.get("query_string", b"")
        if self.signer is not None and b"signature=" in query:
            pairs = query_pairs(query)
            if any(name == "signature" for name, _ in pairs):
                if scope["method"] not in ("GET", "HEAD") or not (
                        path == "/screenshot" or path.startswith(RESULTS_PREFIX)):
                    raise errors.Unauthorized(
                        "only GET /screenshot and GET /results/… take a signature")
                if path.startswith(RESULTS_PREFIX):
                    # A signed link to a stored result signs its path, not a capture's query.
                    self.signer.verify([*pairs, ("path", path)])
                    scope.setdefault("state", {})["signed_path"] = path
                else:
                    self.signer.verify(pairs)
                return Caller(f"ip:{client_ip(scope)}", limiter=self.limiter)
        if not self.keys_required:
            return Caller(f"ip:{client_ip(scope)}", limiter=self.limiter)
        presented = presented_key(scope, self.query_keys(path))
        if presented and self.keys_file is not None:
            account = self.keys_file.identify(presented)
            if account is not None:
                if account.revoked:
                    raise errors.Unauthorized(f"the API key {account.name!r} was revoked")
                return self._account_caller(account)
        caller = self.keys.identify(presented)
        if caller is None:
            if presented is None:
                raise errors.Unauthorized("an API key is required: send it as X-Api-Key, "
                                          "Authorization: Bearer, or ?api_key=")
            raise errors.Unauthorized("the API key is not valid")
        return caller

    def _account_caller(self, account: Account) -> Caller:
        """The caller of a named key, made once per version of its entry."""
        caller = self._callers.get(account)
        if caller is None:
            if len(self._callers) > 2 * len(self.keys_file.accounts) + 64:  # type: ignore[union-attr]
                self._callers.clear()  # entries of keys the file no longer has
            caller = self._callers[account] = Caller(
                f"key:{account.digest.hex()[:16]}", account.domains, self.limiter,
                name=account.name, rate_limit=account.rate_limit_per_minute,
                quota=account.monthly_quota, usage=self.usage,
                max_concurrent=account.max_concurrent, max_monitors=account.max_monitors)
        return caller

    async def close(self) -> None:
        if self.limiter is not None:
            await self.limiter.close()
        if self.usage is not None:
            await self.usage.close()

    def health(self) -> dict[str, object]:
        return {
            "api_keys": self.keys_required,
            "keys_file": self.keys_file.health() if self.keys_file is not None else None,
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
            await send_error(send, exc, self.gatekeeper.error_answer(scope["path"], exc))
            return
        await self.app(scope, receive, send)


async def send_error(send: Send, error: errors.ScreenshotError,
                     shaped: tuple[int, dict[str, Any], dict[str, str]] | None = None) -> None:
    """An error's JSON answer, straight to ASGI (the gate runs before Starlette's handlers):
    the native one, or ``shaped`` (status, body, headers) as a face answers it."""
    status, payload, extra = shaped if shaped is not None else (
        error.status, error.to_dict(), error.headers())
    body = json.dumps(payload).encode("utf-8")
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1"))
                for k, v in extra.items() if k.lower() != "www-authenticate"]
    if isinstance(error, errors.Unauthorized):
        headers.append((b"www-authenticate", b'Bearer realm="screenshotd"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def caller_of(scope: Scope) -> Caller:
    """Who a request acts for: the gatekeeper's verdict; where nothing is checked (no keys, no
    signatures, no limits), the client's address, which may capture anything unmetered."""
    admitted = scope.get("state", {}).get("admitted")
    if isinstance(admitted, Caller):
        return admitted
    ip = client_ip(scope)
    caller = _ADDRESS_CALLERS.get(ip)
    if caller is None:  # made once per address (a Caller is frozen), not once per request
        if len(_ADDRESS_CALLERS) >= 4096:
            _ADDRESS_CALLERS.clear()
        caller = _ADDRESS_CALLERS[ip] = Caller(f"ip:{ip}")
    return caller


_ADDRESS_CALLERS: dict[str, Caller] = {}


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
