"""Webhook deliveries, signed the Standard Webhooks way (https://www.standardwebhooks.com).

Each delivery is one message with a fixed id and body, POSTed with::

    webhook-id: msg_<job id>
    webhook-timestamp: <unix seconds of this attempt>
    webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">   (with a secret)

A secret that starts with ``whsec_`` is the Standard Webhooks form: the rest is base64 and the
key is its bytes, so the official verification libraries accept the signature. Any other secret
is used as its UTF-8 bytes.

The request goes through the private-network guard (:func:`screenshotd.net.outbound.send`): the
host is resolved once, every address checked, the connection pinned. A redirect is never
followed. Network errors, timeouts, 5xx and 429 are retried up to ``retries`` times with
exponential backoff and jitter; anything else is final. Every attempt is recorded on the
:class:`Delivery`, which the job JSON shows.

A job submitted through a seed API's face (:mod:`screenshotd.http.dialects`) has a delivery of
that face's ``style``: the sender's :attr:`WebhookSender.styles` says what its body is and how
it is signed (``X-GSS-Signature`` for one, for example), so the receiver written for that API
reads and verifies it as its document says.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import h11

from screenshotd import errors
from screenshotd.net import outbound
from screenshotd.net.egress import Guard, Unreachable

log = logging.getLogger(__name__)

DEFAULT_RETRIES = 3
DEFAULT_BASE_DELAY_S = 1.0
DEFAULT_TIMEOUT_S = 10.0


def signing_key(secret: str) -> bytes:
    """The HMAC key for a ``webhook_secret``: ``whsec_<base64>`` decoded, else the UTF-8 bytes."""
    if secret.startswith("whsec_"):
        with contextlib.suppress(binascii.Error, ValueError):
            return base64.b64decode(secret[len("whsec_"):], validate=True)
    return secret.encode("utf-8")


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` and the base64 HMAC-SHA256 of id.timestamp.body."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class WebhookStyle:
    """How a face shapes and signs its webhooks. ``body`` turns the finished job or batch, and
    the native JSON of it, into the face's payload; ``headers`` gives the signature headers
    (secret, body) of the face, sent instead of the Standard Webhooks ones unless
    ``standard``."""

    body: Callable[[Any, dict[str, Any]], dict[str, Any]]
    headers: Callable[[str, bytes], list[tuple[str, str]]] | None = None
    standard: bool = True


def hex_signature(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of a raw body under ``secret`` (its UTF-8 bytes)."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


@dataclass
class Attempt:
    number: int
    at: float
    status: int | None = None
    error: str | None = None
    duration_ms: int = 0


@dataclass
class Delivery:
    """One job's webhook: where it goes, and what happened so far."""

    url: str
    secret: str | None = field(default=None, repr=False)
    message_id: str = ""
    #: pending -> delivering -> delivered | failed
    state: str = "pending"
    attempts: list[Attempt] = field(default_factory=list)
    #: The face whose :class:`WebhookStyle` shapes and signs it; empty: the native one.
    style: str = ""

    @property
    def last_status(self) -> int | None:
        return self.attempts[-1].status if self.attempts else None

    def to_json(self, iso: Callable[[float | None], str | None]) -> dict[str, Any]:
        return {
            "url": self.url,
            "state": self.state,
            "signed": self.secret is not None,
            "last_status": self.last_status,
            "attempts": [
                {"attempt": a.number, "at": iso(a.at), "status": a.status, "error": a.error,
                 "duration_ms": a.duration_ms}
                for a in self.attempts
            ],
        }


class WebhookSender:
    """Sends deliveries through ``guard``, at most ``concurrency`` at a time."""

    def __init__(
        self,
        guard: Guard,
        *,
        retries: int = DEFAULT_RETRIES,
        base_delay: float = DEFAULT_BASE_DELAY_S,
        timeout: float = DEFAULT_TIMEOUT_S,
        concurrency: int = 16,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.guard = guard
        self.retries = retries
        self.base_delay = base_delay
        self.timeout = timeout
        self.clock = clock
        self._slots = asyncio.Semaphore(concurrency)
        #: Set at shutdown: backoff waits end at once, and no attempt after the current one.
        self.closing = asyncio.Event()
        self.counts: dict[str, int] = {"delivered": 0, "failed": 0, "attempts": 0}
        #: Each face's style, by name (set by the app from the faces it serves).
        self.styles: dict[str, WebhookStyle] = {}

    def body(self, delivery: Delivery, subject: Any, native: dict[str, Any]) -> bytes:
        """What ``delivery`` sends about ``subject`` (a job or a batch), whose native JSON is
        ``native``: that, or its face's payload."""
        style = self.styles.get(delivery.style) if delivery.style else None
        sent = native if style is None else style.body(subject, native)
        return json.dumps(sent, separators=(",", ":")).encode()

    def backoff(self, retry: int) -> float:
        """Seconds before retry ``retry`` (1, 2, ...): doubling from ``base_delay``, ±25%."""
        return float(self.base_delay * 2 ** (retry - 1) * random.uniform(0.75, 1.25))

    async def deliver(self, delivery: Delivery, body: bytes) -> None:
        """Deliver ``body``, retrying what may succeed later. Never raises (but cancellation)."""
        delivery.state = "delivering"
        for number in range(1, self.retries + 2):
            if number > 1:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.closing.wait(), self.backoff(number - 1))
            async with self._slots:
                retry = await self._attempt(delivery, number, body)
            if not retry or self.closing.is_set():
                break
        delivery.state = "delivered" if _ok(delivery.last_status) else "failed"
        self.counts[delivery.state] += 1
        if delivery.state == "failed":
            last = delivery.attempts[-1]
            log.warning("webhook to %s failed after %d attempt(s): %s", _origin(delivery.url),
                        len(delivery.attempts), last.error or f"HTTP {last.status}")

    async def _attempt(self, delivery: Delivery, number: int, body: bytes) -> bool:
        """One POST; returns whether a failure is worth retrying."""
        timestamp = int(self.clock())
        style = self.styles.get(delivery.style) if delivery.style else None
        headers = [("Content-Type", "application/json")]
        if style is None or style.standard:
            headers += [("webhook-id", delivery.message_id), ("webhook-timestamp", str(timestamp))]
            if delivery.secret is not None:
                headers.append(("webhook-signature",
                                sign(delivery.secret, delivery.message_id, timestamp, body)))
        if style is not None and style.headers is not None and delivery.secret is not None:
            headers += style.headers(delivery.secret, body)
        attempt = Attempt(number, self.clock())
        delivery.attempts.append(attempt)
        self.counts["attempts"] += 1
        started = time.monotonic()
        retry = False
        try:
            response = await outbound.send(self.guard, delivery.url, headers=headers, body=body,
                                           deadline_s=self.timeout)
        except errors.ScreenshotError as exc:  # Blocked, InvalidURL: final
            attempt.error = f"{exc.code}: {exc.message}"
        except TimeoutError:
            attempt.error = f"no answer within {self.timeout:g} s"
            retry = True
        except (Unreachable, OSError, h11.ProtocolError) as exc:
            attempt.error = f"{type(exc).__name__}: {exc}"[:300]
            retry = True
        else:
            attempt.status = response.status
            if 300 <= response.status < 400:
                location = next((v for k, v in response.headers if k.lower() == "location"), "")
                attempt.error = f"redirect not followed (to {location[:200]})"
            retry = response.status >= 500 or response.status == 429
        attempt.duration_ms = round((time.monotonic() - started) * 1000)
        return retry


def _ok(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def _origin(url: str) -> str:
    """Scheme, host and port only: a webhook URL's path and query may carry a token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
