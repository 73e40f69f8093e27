"""Signed capture URLs: an ``<img src>`` that needs no API key.

With ``SIGNING_SECRET`` set, ``GET /screenshot?url=…&signature=<hex>`` is admitted without a key
when ``signature`` is the HMAC-SHA256, under the secret, of the request's *canonical* query: every
parameter but ``signature`` and ``api_key``, sorted by name (then value), each name and value
percent-encoded (RFC 3986: only ``A-Z a-z 0-9 - _ . ~`` stay as they are) and joined as
``name=value&…``. An optional ``expires`` (Unix seconds) is signed with the rest, and a request
after it is refused. The order of parameters and how a client chose to encode them do not
matter; any other change to any of them does.

``screenshotd sign 'url=https://example.com&full_page=true'`` prints a ready URL, and
:func:`signed_query` is the same thing in Python.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote

from screenshotd import errors

#: Parameters that are never signed: the signature itself, and a key (which a signed URL does
#: not need, and which may be added or dropped by whoever embeds it).
UNSIGNED = frozenset({"signature", "api_key"})


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """The string that is signed: the pairs but the unsigned ones, sorted, strictly encoded."""
    kept = sorted((name, value) for name, value in pairs if name not in UNSIGNED)
    return "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in kept)


def query_pairs(query: str | bytes) -> list[tuple[str, str]]:
    """A raw query string as (name, value) pairs, decoded as the app decodes it."""
    if isinstance(query, bytes):
        query = query.decode("latin-1")
    return parse_qsl(query, keep_blank_values=True)


class Signer:
    """Signs and checks capture queries with one secret."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("a signing secret must not be empty")
        self._secret = secret.encode("utf-8")

    def signature(self, pairs: Iterable[tuple[str, str]]) -> str:
        canonical = canonical_query(pairs).encode("utf-8")
        return hmac.new(self._secret, canonical, hashlib.sha256).hexdigest()

    def sign(self, pairs: Iterable[tuple[str, str]], expires_in: int | None = None,
             now: float | None = None) -> str:
        """A query string (already encoded) that carries its own ``signature``; with
        ``expires_in`` seconds, it stops working after that. An ``expires`` already in
        ``pairs`` is replaced."""
        kept = [(n, v) for n, v in pairs if n not in UNSIGNED]
        if expires_in is not None:
            kept = [(n, v) for n, v in kept if n != "expires"]
            kept.append(("expires", str(int((time.time() if now is None else now)
                                            + expires_in))))
        query = "&".join(f"{quote(n, safe='')}={quote(v, safe='')}" for n, v in kept)
        return f"{query}&signature={self.signature(kept)}"

    def verify(self, pairs: list[tuple[str, str]], now: float | None = None) -> None:
        """Raise :class:`errors.Unauthorized` unless ``pairs`` carry a valid, unexpired
        signature."""
        given = [v for n, v in pairs if n == "signature"]
        if len(given) != 1:
            raise errors.Unauthorized("signature must be given exactly once")
        expected = self.signature(pairs)
        if not hmac.compare_digest(given[0].strip().lower().encode("latin-1", "replace"),
                                   expected.encode("ascii")):
            raise errors.Unauthorized(
                "the signature does not match this URL: was a parameter changed after signing?")
        expires = [v for n, v in pairs if n == "expires"]
        if expires:
            try:
                deadline = int(expires[0])
            except ValueError:
                raise errors.Unauthorized("expires must be a Unix time in seconds") from None
            if (time.time() if now is None else now) > deadline:
                raise errors.Unauthorized("this signed URL has expired")
