"""API keys: who is calling, checked before anything else runs.

With ``API_KEYS`` set, every request but the open paths (``/health``) and CORS preflights must
carry one of the keys, as ``X-Api-Key: <key>``, ``Authorization: Bearer <key>`` or
``?api_key=<key>``; otherwise it is ``401 UNAUTHORIZED``. :class:`ApiKeyMiddleware` runs inside
the CORS layer, so a browser can read the 401; the hit path, which answers cache hits before
any middleware, checks the key itself and leaves anything without a valid one to the app.

Keys are compared in constant time: the SHA-256 of what was sent against the SHA-256 of every
key, each with :func:`hmac.compare_digest`, all of them every time. A request is known by the
key's *id* (a prefix of that hash), never by the key: jobs and batches belong to it, and logs
can name it. Keys are never logged: uvicorn's access log has ``api_key=`` (and
``webhook_secret=``) values masked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from . import errors

#: Paths that need no key: liveness probes must work without secrets.
OPEN_PATHS = frozenset({"/health"})

#: Query parameters whose values are secrets: masked wherever a URL is logged.
_SECRET_IN_QUERY = re.compile(r"((?:^|[?&;])(?:api_key|webhook_secret)=)[^&;#\s]*",
                              re.IGNORECASE)


def key_id(key: str) -> str:
    """A key's public name: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


class KeyRing:
    """The configured keys, kept only as SHA-256 digests."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._digests = [hashlib.sha256(key.encode("utf-8")).digest() for key in keys if key]

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def identify(self, presented: str | None) -> str | None:
        """``key:<id>`` for a valid key, else None; the time taken does not depend on which
        key matched, or how much of one."""
        if not presented:
            return None
        digest = hashlib.sha256(presented.encode("utf-8")).digest()
        matched = False
        for known in self._digests:
            matched |= hmac.compare_digest(digest, known)
        return f"key:{key_id(presented)}" if matched else None


def presented_key(scope: Scope) -> str | None:
    """The key a request carries: ``X-Api-Key``, ``Authorization: Bearer``, or ``?api_key=``."""
    for name, value in scope["headers"]:
        if name == b"x-api-key":
            return value.decode("latin-1").strip()
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    query = scope.get("query_string", b"")
    if b"api_key=" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if name == "api_key":
                return value
    return None


class ApiKeyMiddleware:
    """ASGI middleware: refuse requests without a valid key, and name the caller
    (``scope["state"]["caller"]``) for the ones with one."""

    def __init__(self, app: ASGIApp, keys: KeyRing) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        presented = presented_key(scope)
        caller = self.keys.identify(presented)
        if caller is None:
            if presented is None:
                message = ("an API key is required: send it as X-Api-Key, "
                           "Authorization: Bearer, or ?api_key=")
            else:
                message = "the API key is not valid"
            await _refuse(send, message)
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)


async def _refuse(send: Send, message: str) -> None:
    error = errors.Unauthorized(message)
    body = json.dumps(error.to_dict()).encode("utf-8")
    await send({"type": "http.response.start", "status": error.status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b'Bearer realm="screenshotd"')]})
    await send({"type": "http.response.body", "body": body})


def mask_secrets(text: str) -> str:
    """``?url=…&api_key=k&webhook_secret=s`` as ``?url=…&api_key=***&webhook_secret=***``."""
    return _SECRET_IN_QUERY.sub(r"\1***", text)


class MaskSecrets(logging.Filter):
    """For uvicorn's access log, whose records carry the request's path and query."""

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
