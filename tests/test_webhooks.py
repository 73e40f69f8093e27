"""Webhook signatures, checked against an HMAC written here from the Standard Webhooks spec,
not against the service's own helper."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from screenshotd.core.jobs.webhooks import WebhookSender, sign


def expected_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks: HMAC-SHA256 over ``id.timestamp.body``; a ``whsec_`` secret is
    base64 and its bytes are the key."""
    key = (base64.b64decode(secret[6:]) if secret.startswith("whsec_")
           else secret.encode("utf-8"))
    mac = hmac.HMAC(key, digestmod=hashlib.sha256)
    mac.update(msg_id.encode() + b"." + str(timestamp).encode() + b"." + body)
    return "v1," + base64.b64encode(mac.digest()).decode()


@pytest.mark.parametrize("secret", [
    "s3cret",
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # the Standard Webhooks documentation's form
    "ünïcødé secret",
    "whsec_not base64!",  # not base64 after the prefix: used as plain text
])
def test_the_signature_is_the_spec_hmac(secret):
    body = b'{"id":"abc","status":"completed"}'
    got = sign(secret, "msg_abc", 1_700_000_000, body)
    if secret == "whsec_not base64!":
        plain = hmac.new(secret.encode(), b"msg_abc.1700000000." + body, hashlib.sha256)
        assert got == "v1," + base64.b64encode(plain.digest()).decode()
    else:
        assert got == expected_signature(secret, "msg_abc", 1_700_000_000, body)


def test_the_signature_changes_with_every_signed_part():
    base = sign("k", "msg_1", 100, b"{}")
    assert sign("k", "msg_2", 100, b"{}") != base
    assert sign("k", "msg_1", 101, b"{}") != base
    assert sign("k", "msg_1", 100, b"{ }") != base
    assert sign("j", "msg_1", 100, b"{}") != base


def test_backoff_doubles_with_jitter():
    sender = WebhookSender(guard=None, base_delay=1.0)  # type: ignore[arg-type]
    for retry, nominal in ((1, 1.0), (2, 2.0), (3, 4.0)):
        delays = [sender.backoff(retry) for _ in range(200)]
        assert all(0.75 * nominal <= d <= 1.25 * nominal for d in delays)
        assert max(delays) - min(delays) > 0.1 * nominal  # jittered, not fixed
