"""How each setting's text is read: every entry of :data:`screenshotd.settings.SETTINGS` names
one of these readers. A number within bounds, a choice, a URL, a secret, keys, hosts, a path:
each returns the value, or raises ValueError (or :class:`SettingsError`) saying what is wrong,
and the table adds the variable's name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from screenshotd.net.addresses import AddressPolicy


class SettingsError(ValueError):
    """A setting has a value that cannot be used. The message names the variable."""


def _int(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"expected an integer, got {raw!r}") from None
        if lo is not None and value < lo:
            raise ValueError(f"must be at least {lo}, got {value}")
        if hi is not None and value > hi:
            raise ValueError(f"must be at most {hi}, got {value}")
        return value

    return parse


def _float(lo: float, hi: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
        if not lo <= value <= hi:  # also refuses nan
            raise ValueError(f"must be between {lo:g} and {hi:g}, got {raw.strip()}")
        return value

    return parse


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            named = ", ".join(c for c in choices if c) + (" or empty" if "" in choices else "")
            raise ValueError(f"expected one of {named}, got {raw!r}")
        return value

    return parse


def _str(raw: str) -> str:
    return raw.strip()


def _url(raw: str, schemes: tuple[str, ...]) -> Any:
    """A URL's parts (``urlsplit``), or ValueError; ``schemes`` are the ones allowed."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if parts.scheme not in schemes:
        expected = ", ".join(f"{scheme}://" for scheme in schemes)
        raise ValueError(f"expected {expected}, got {raw.split(':')[0]!r}")
    return parts


def _redis_url(raw: str) -> str:
    value = raw.strip()
    if not value:
        return ""
    parts = _url(value, ("redis", "rediss", "unix"))
    if parts.scheme != "unix" and not parts.hostname:
        raise ValueError("the URL names no host")
    return value


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


#: The seed APIs whose faces can be served (``screenshotd.http.dialects``).
DIALECTS = ("000", "001", "003", "004")


def _dialects(raw: str) -> tuple[str, ...]:
    """``000,001,003,004`` (or ``all``), some of them, or ``none``."""
    value = raw.strip().lower()
    if value == "none":
        return ()
    if value == "all":
        return DIALECTS
    items = _csv(value)
    unknown = [item for item in items if item not in DIALECTS]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a seed API: use some of "
                         f"{', '.join(DIALECTS)}, all, or none")
    return tuple(name for name in DIALECTS if name in items)


def _api_keys(raw: str) -> tuple[str, ...]:
    """``key`` or ``key:host|*.domain`` items; every domain list is read here, at start-up."""
    from screenshotd.auth.callers import KeyRing

    items = _csv(raw)
    KeyRing(items)  # raises ValueError naming a bad domain
    return items


#: The shortest SIGNING_SECRET accepted.
MIN_SECRET_LENGTH = 16


def _secret(raw: str) -> str:
    value = raw.strip()
    if value and len(value) < MIN_SECRET_LENGTH:
        raise ValueError(f"use at least {MIN_SECRET_LENGTH} characters (32 random bytes, "
                         "hex-encoded, is good)")
    return value


def _http_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if not value:
        return ""
    parts = _url(value, ("http", "https"))
    if not parts.hostname:
        raise ValueError("the URL names no host")
    return value


def _port(raw: str) -> int:
    return _int(0, 65535)(raw)


def _private_hosts(raw: str) -> tuple[str, ...]:
    """Hosts, ``host:port`` pairs, CIDRs, or ``*``; every item is read here, at start-up."""
    items = _csv(raw)
    AddressPolicy.from_setting(items)  # raises ValueError naming a bad item
    return items


def _chromium_path(raw: str) -> str:
    value = raw.strip()
    if value and not (Path(value).is_file() and os.access(value, os.X_OK)):
        raise ValueError(f"{value!r} is not an executable file")
    return value
