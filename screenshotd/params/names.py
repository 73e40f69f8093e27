"""The names a capture request may use, and what it is told when it uses another.

Aliases (``css`` for ``styles``, ``theme=dark``, ``wait_for``...) are mapped to the option they
set before validation, two names for one option are refused, an unknown name is a 400 that
suggests the nearest known one, and pydantic's errors become the spec's, naming the field the
caller used. The known names themselves come from the model
(:data:`screenshotd.params.capture.KNOWN_PARAMS`), which passes them in.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

import pydantic

from screenshotd import errors

#: Names a request may carry that are not capture options (auth and URL signing).
NON_OPTION_PARAMS = frozenset({"api_key", "signature", "expires"})

#: Simple aliases: alias name -> canonical name. The last four are the hosted APIs' names, so
#: that their clients work unchanged.
ALIASES: dict[str, str] = {
    "css": "styles",
    "js": "scripts",
    "block_cookies": "block_cookie_banners",
    "async": "async_",
    "viewport_width": "width",
    "viewport_height": "height",
    "callback_url": "webhook_url",
    "js_scenario": "scripts",
}

_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake_case(name: str) -> str:
    """``fullPage`` -> ``full_page``, ``htmlBase64`` -> ``html_base64``; a snake_case name is
    returned as it is."""
    if name.islower() or not any(c.isupper() for c in name):
        return name
    return _HUMP.sub("_", name).lower()


def camel_case(name: str) -> str:
    """``full_page`` -> ``fullPage``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def other_spellings(name: str) -> list[str]:
    """Every other name a request may give option ``name`` by: its camelCase form, and each
    alias with its camelCase form (``width``: ``viewport_width``, ``viewportWidth``)."""
    names = [alias for alias, canonical in ALIASES.items() if canonical == name]
    found = [camel_case(n) for n in [name, *names]] + names
    return sorted({n for n in found if n != name and n != "async_"},
                  key=lambda n: (n != camel_case(name), n))


def known_spelling(name: str, known: frozenset[str] | set[str]) -> str:
    """The snake_case name a camelCase ``name`` means, when that is a known name (or alias);
    else ``name`` itself."""
    snake = snake_case(name)
    return snake if snake != name and (snake in known or snake in ALIASES) else name


def snake_keys(params: Mapping[str, Any], known: frozenset[str] | set[str]) -> dict[str, Any]:
    """``params`` with each camelCase name that means a known snake_case one renamed to it;
    both spellings of one name at once is a 400 naming the camelCase one."""
    renamed: dict[str, Any] = {}
    for name, value in params.items():
        snake = known_spelling(name, known)
        if snake != name:
            if snake in params:
                raise errors.ValidationError(
                    f"{name} and {snake} are the same parameter; give only one", field=name)
            renamed[snake] = value
        else:
            renamed[name] = value
    return renamed


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

    for given_name, value in params.items():
        name = known_spelling(given_name, known)
        if name in NON_OPTION_PARAMS:
            continue
        if name not in known:
            raise errors.ValidationError(unknown_message(name, known), field=name)
        if name == "theme":
            if not isinstance(value, str) or value.lower() not in ("dark", "light"):
                raise errors.ValidationError("theme must be dark or light", field="theme")
            put(given_name, "dark_mode", value.lower() == "dark")
        elif name == "wait_for":
            put(given_name, *wait_for_option(value))
        elif name == "format" and isinstance(value, str) and value.lower() == "jpg":
            put(given_name, "format", "jpeg")
        elif name == "wait_until" and value == "networkidle":
            put(given_name, "wait_until", "networkidle0")
        else:
            put(given_name, ALIASES.get(name, name), value)
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
    field_name = loc[0] if loc else (err.get("ctx") or {}).get("field") or ERROR_FIELDS.get(kind)
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
