"""How one parameter value is read, the same from a query string and from a JSON body.

Booleans accept ``true``/``false``/``1``/``0`` (strings, JSON booleans, or 0/1); JSON-valued
parameters may be JSON values or JSON text; list parameters a comma-separated string or a JSON
array. URLs are read as a browser reads them (:func:`check_url`), so the host checked at the door
is the host the browser connects to. Each reader raises pydantic's ``PydanticCustomError`` with
a type that :func:`screenshotd.params.capture.translate` maps to the spec's error.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zoneinfo
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

MAX_HTML_BYTES = 2 * 1024 * 1024
MAX_INJECT_BYTES = 64 * 1024
MAX_URL_LENGTH = 8192
#: The deepest nesting of arrays and objects a JSON body or JSON parameter may have.
MAX_JSON_DEPTH = 32

def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def decode_json(data: bytes | str) -> Any:
    """JSON text as Python values, or a ValueError that says what is wrong with it: nested
    more than :data:`MAX_JSON_DEPTH` deep, ``NaN`` or ``Infinity``, an integer too long to
    read, a lone surrogate, invalid UTF-8 or invalid JSON.

    The decoder bounds its own recursion (a body nested thousands deep is a RecursionError,
    read here as a ValueError); what it returns is then walked without recursion, so nothing
    downstream ever meets a structure deeper than the bound."""
    try:
        value = json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f"it is nested more than {MAX_JSON_DEPTH} levels deep") from None
    _check_value(value)
    return value


def _check_value(value: Any) -> None:
    """Refuse a value nested more than :data:`MAX_JSON_DEPTH` deep, or holding a string (or
    key) with a lone surrogate (``"\\ud800"``): valid JSON, but not text, and nothing
    downstream (a URL, a header, a page) could carry it."""
    todo: list[tuple[Any, int]] = [(value, 0)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise ValueError(f"it is nested more than {MAX_JSON_DEPTH} levels deep")
            if isinstance(item, dict):
                todo.extend((key, depth) for key in item)
                todo.extend((inner, depth + 1) for inner in item.values())
            else:
                todo.extend((inner, depth + 1) for inner in item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("a string holds a lone surrogate (an unpaired \\ud800-\\udfff "
                                 "escape), which is not text") from None


def parse_bool(value: Any) -> bool:
    """``true``/``false``/``1``/``0`` as strings, JSON booleans or 0/1; else a ValueError."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
    raise PydanticCustomError("bool_parsing", "must be true, false, 1 or 0")


def parse_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return decode_json(value)
        except json.JSONDecodeError as exc:
            raise PydanticCustomError(
                "json_invalid", "is not valid JSON: {err}", {"err": exc.msg}
            ) from None
        except ValueError as exc:
            raise PydanticCustomError(
                "json_invalid", "is not valid JSON: {err}", {"err": str(exc)}
            ) from None
    return value


def split_top_level(text: str) -> list[str]:
    """Split a comma-separated selector list, keeping commas inside (), [] and quotes."""
    parts: list[str] = []
    depth = 0
    quote = ""
    current: list[str] = []
    for char in text:
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_list(value: Any) -> Any:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            return parse_json(stripped)
        return split_top_level(stripped)
    return value


Bool = Annotated[bool, BeforeValidator(parse_bool)]
Selector = Annotated[str, Field(min_length=1, max_length=2048)]
SelectorList = Annotated[list[Selector], BeforeValidator(parse_list), Field(max_length=50)]
HeaderName = Annotated[str, Field(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")]
HeaderValue = Annotated[str, Field(max_length=8192, pattern=r"^[^\r\n\x00]*$")]


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_SLASHES = re.compile(r"^[/\\]*")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))


def check_url(url: str) -> str:
    """The URL as a browser reads it (WHATWG), or an ``invalid_url`` error.

    Leading and trailing spaces and control characters are dropped and tabs and newlines removed
    anywhere; the scheme is case-insensitive; for http(s) any run of ``/`` or ``\\`` after the
    scheme starts the authority (``http:/host``, ``http:\\\\host``), and ``\\`` is a ``/`` before
    the query. A space in the path or query is escaped as ``%20``. So the host checked at the door
    is the host the browser will connect to.
    """
    url = url.strip(_C0_AND_SPACE)
    url = url.replace("\t", "").replace("\n", "").replace("\r", "")
    match = _SCHEME.match(url)
    scheme = match.group(1).lower() if match else ""
    if scheme not in ("http", "https"):
        raise PydanticCustomError(
            "invalid_url", "url must be http or https, not '{scheme}'", {"scheme": scheme}
        )
    rest = url[match.end():] if match else url
    rest = _SLASHES.sub("", rest, count=1)
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    rest = rest[:cut].replace("\\", "/") + rest[cut:]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if any(c.isspace() for c in authority):
        raise PydanticCustomError("invalid_url", "url has whitespace in its host")
    url = f"{scheme}://{rest.replace(' ', '%20')}"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise PydanticCustomError("invalid_url", "url contains control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError as exc:
        raise PydanticCustomError(
            "invalid_url", "url is malformed: {err}", {"err": str(exc)}
        ) from None
    if not host:
        raise PydanticCustomError("invalid_url", "url has no host")
    return url


def decode_html_base64(value: str) -> str:
    if len(value) > (MAX_HTML_BYTES * 4) // 3 + 8:
        raise PydanticCustomError("payload_too_large", "html_base64 is over 2 MB decoded")
    compact = re.sub(r"\s+", "", value)
    compact += "=" * (-len(compact) % 4)
    try:
        raw = base64.b64decode(compact, altchars=b"-_" if ("-" in compact or "_" in compact) else None,
                               validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError):
        raise PydanticCustomError(
            "html_base64", "html_base64 is not valid base64 of UTF-8 text"
        ) from None


def check_timezone(name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone", "unknown time zone '{name}'", {"name": name}
        ) from None
