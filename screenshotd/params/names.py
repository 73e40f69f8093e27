"""The names a capture request may use, and what it is told when it uses another.

Aliases (``css`` for ``styles``, ``theme=dark``, ``wait_for``...) are mapped to the option they
set before validation, two names for one option are refused, an unknown name is a 400 that
suggests the nearest known one, and pydantic's errors become the spec's, naming the field the
caller used. The known names themselves come from the model
(:data:`screenshotd.params.capture.KNOWN_PARAMS`), which passes them in.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import pydantic

from screenshotd import errors

#: Names a request may carry that are not capture options (auth and URL signing).
NON_OPTION_PARAMS = frozenset({"api_key", "signature", "expires"})

#: Simple aliases: alias name -> canonical name.
ALIASES: dict[str, str] = {
    "css": "styles",
    "js": "scripts",
    "block_cookies": "block_cookie_banners",
    "async": "async_",
}


def canonical_names(params: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """Map aliases to canonical names and drop auth names; reject unknown names."""
    data: dict[str, Any] = {}
    given: dict[str, str] = {}  # canonical -> the name the caller used

    def put(name: str, canonical: str, value: Any) -> None:
        if canonical in given:
            raise errors.ValidationError(
                f"{name} and {given[canonical]} set the same option; give only one", field=name
            )
        given[canonical] = name
        data[canonical] = value

    for name, value in params.items():
        if name in NON_OPTION_PARAMS:
            continue
        if name not in known:
            raise errors.ValidationError(unknown_message(name, known), field=name)
        if name == "theme":
            if not isinstance(value, str) or value.lower() not in ("dark", "light"):
                raise errors.ValidationError("theme must be dark or light", field="theme")
            put(name, "dark_mode", value.lower() == "dark")
        elif name == "wait_for":
            put(name, *wait_for_option(value))
        elif name == "format" and isinstance(value, str) and value.lower() == "jpg":
            put(name, "format", "jpeg")
        elif name == "wait_until" and value == "networkidle":
            put(name, "wait_until", "networkidle0")
        else:
            put(name, ALIASES.get(name, name), value)
    return data


def wait_for_option(value: Any) -> tuple[str, Any]:
    """``wait_for`` is a selector, or a number of milliseconds (then it means ``delay``)."""
    if isinstance(value, bool):
        raise errors.ValidationError("wait_for must be a selector or milliseconds", field="wait_for")
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        return "delay", int(value)
    return "wait_for_selector", value


def unknown_message(name: str, known: frozenset[str]) -> str:
    message = f"unknown parameter '{name}'"
    close = difflib.get_close_matches(name, sorted(known - NON_OPTION_PARAMS), n=1)
    if not close and name.replace("_", "") in {k.replace("_", ""): k for k in known}:
        close = [{k.replace("_", ""): k for k in known}[name.replace("_", "")]]
    if close:
        message += f"; did you mean {close[0]!r}?"
    return message


ERROR_FIELDS = {
    "missing": "url", "conflict": "url", "device": "device", "timeout": "timeout",
    "locale": "locale", "geolocation": "geolocation_latitude", "clip": "clip_width",
    "webhook": "webhook_url", "webhook_secret": "webhook_secret",
    "html_base64": "html_base64", "timezone": "timezone", "local_storage": "local_storage",
}


def translate(exc: pydantic.ValidationError, known: frozenset[str]) -> errors.ScreenshotError:
    """Turn pydantic's first error into the spec's error, naming the field the caller used."""
    err = exc.errors(include_url=False)[0]
    loc = [str(p) for p in err["loc"]]
    kind = err["type"]
    field_name = loc[0] if loc else ERROR_FIELDS.get(kind)
    if field_name == "async_":
        field_name = "async"
    message = err["msg"]
    if kind == "invalid_url":
        return errors.InvalidURL(message, field="url")
    if kind == "invalid_webhook_url":
        return errors.InvalidURL(message, field="webhook_url")
    if kind == "payload_too_large":
        return errors.PayloadTooLarge(message, field=field_name or "html")
    if kind == "extra_forbidden" and loc:
        return errors.ValidationError(unknown_message(loc[-1], known), field=loc[-1])
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
    if loc:
        where = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc).lstrip(".")
        message = f"{where}: {message}"
    return errors.ValidationError(message, field=field_name)
