"""CaptureOptions: the single source of truth for every capture parameter.

Names, aliases, types, bounds, defaults and help text live on the model's fields. The same model
parses a GET query string and a POST JSON body, so both give identical options; it drives the
cache key and (later) the OpenAPI document.

Parsing rules that make GET and POST identical:

- booleans accept ``true``/``false``/``1``/``0`` (strings, JSON booleans, or 0/1);
- numbers may be JSON numbers or their decimal strings;
- JSON-valued parameters (``headers``, ``cookies``, ``local_storage``, ``actions``) may be JSON
  values or JSON text (what a query string can carry);
- list parameters (``hide_selectors``, ``redact``, ``block_requests``) may be a comma-separated
  string or a JSON array.

An unknown name is a 400 that names it, so ``fullpage=true`` is never silently ignored.
Bounds that depend on the server (``SCREENSHOT_TIMEOUT_MS``, the Playwright device table) come in
through :class:`ParseLimits`.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import json
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr
from pydantic_core import PydanticCustomError

from . import errors
from .devices import PRESETS, Device

#: Bumped whenever the bytes a given set of options produces may change, so that old cache
#: entries are never served for new code.
CACHE_FORMAT_VERSION = 3

MAX_HTML_BYTES = 2 * 1024 * 1024
MAX_INJECT_BYTES = 64 * 1024
MAX_URL_LENGTH = 8192

#: Names a request may carry that are not capture options (auth and URL signing).
NON_OPTION_PARAMS = frozenset({"api_key", "signature", "expires"})

#: Most local_storage entries, and the longest key and value.
MAX_STORAGE_ENTRIES = 50
MAX_STORAGE_VALUE = 100_000

# --------------------------------------------------------------------------- value parsers


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


def _parse_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise PydanticCustomError(
                "json_invalid", "is not valid JSON: {err}", {"err": exc.msg}
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


def _parse_list(value: Any) -> Any:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            return _parse_json(stripped)
        return split_top_level(stripped)
    return value


Bool = Annotated[bool, BeforeValidator(parse_bool)]
Selector = Annotated[str, Field(min_length=1, max_length=2048)]
SelectorList = Annotated[list[Selector], BeforeValidator(_parse_list), Field(max_length=50)]
HeaderName = Annotated[str, Field(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")]
HeaderValue = Annotated[str, Field(max_length=8192, pattern=r"^[^\r\n\x00]*$")]

# --------------------------------------------------------------------------- nested models


class Cookie(BaseModel):
    """One cookie, as Playwright's ``BrowserContext.add_cookies`` takes it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: Annotated[str, Field(min_length=1, max_length=4096)]
    value: Annotated[str, Field(max_length=4096)]
    url: str | None = None
    domain: str | None = None
    path: str | None = None
    expires: float | None = None
    http_only: Bool | None = Field(default=None, alias="httpOnly")
    secure: Bool | None = None
    same_site: Literal["Strict", "Lax", "None"] | None = Field(default=None, alias="sameSite")

    @pydantic.model_validator(mode="after")
    def _needs_target(self) -> Cookie:
        if not self.url and not self.domain:
            raise ValueError("each cookie needs a domain or a url")
        if self.url and urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError("a cookie's url must be http or https")
        return self

    def to_playwright(self, page_url: str | None) -> dict[str, Any]:
        cookie: dict[str, Any] = {"name": self.name, "value": self.value}
        if self.url:
            cookie["url"] = self.url
        else:
            cookie["domain"] = self.domain
            cookie["path"] = self.path or "/"
        for key, val in (
            ("expires", self.expires),
            ("httpOnly", self.http_only),
            ("secure", self.secure),
            ("sameSite", self.same_site),
        ):
            if val is not None:
                cookie[key] = val
        return cookie


class StorageItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: Annotated[str, Field(min_length=1, max_length=1024)]
    value: Annotated[str, Field(max_length=MAX_STORAGE_VALUE)]


def _storage(value: Any) -> Any:
    """``local_storage`` as one ``{key: value}`` object, whichever form it came in, so both
    forms give the same options (and cache key)."""
    value = _parse_json(value)
    if isinstance(value, list):
        items = [StorageItem.model_validate(item) for item in value]
        value = {item.key: item.value for item in items}
    return value


StorageKey = Annotated[str, Field(min_length=1, max_length=1024)]
StorageValue = Annotated[str, Field(max_length=MAX_STORAGE_VALUE)]

#: What each action type needs, beyond its type.
ACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "wait_for_selector": ("selector",),
    "click": ("selector",),
    "type": ("selector", "text"),
    "scroll": (),  # "y", or a "selector" to scroll into view
    "wait": ("ms",),
    "hover": ("selector",),
    "press": ("key",),
}


class Action(BaseModel):
    """One scripted step of ``actions``, run in order before the capture."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["wait_for_selector", "click", "type", "scroll", "wait", "hover", "press"]
    selector: Selector | None = None
    text: Annotated[str, Field(max_length=10_000)] | None = None
    key: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    y: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    ms: Annotated[int, Field(ge=0, le=10000)] | None = None
    #: For steps that wait for an element; at most the request's remaining time.
    timeout: Annotated[int, Field(ge=1, le=60000)] | None = None

    @pydantic.model_validator(mode="after")
    def _needs(self) -> Action:
        missing = [name for name in ACTION_FIELDS[self.type] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.type} step needs {' and '.join(missing)}")
        if self.type == "scroll" and self.y is None and self.selector is None:
            raise ValueError("a scroll step needs y or selector")
        return self

    def describe(self, index: int) -> str:
        """How errors name the step: ``actions[2] (click '#go')``."""
        what = self.selector or self.key or (f"{self.ms} ms" if self.ms is not None else "")
        return f"actions[{index}] ({self.type}{f' {what!r}' if what else ''})"


@dataclass(frozen=True)
class ParseLimits:
    """Bounds that depend on the server rather than on the spec."""

    screenshot_timeout_ms: int = 30000
    devices: Mapping[str, Device] = field(default_factory=dict)


# --------------------------------------------------------------------------- the model

Format = Literal["png", "jpeg", "webp", "pdf"]
WaitUntil = Literal["load", "domcontentloaded", "networkidle0", "networkidle2"]
PaperFormat = Literal["a4", "a3", "a2", "a1", "a0", "letter", "legal", "tabloid", "ledger"]

#: Simple aliases: alias name -> canonical name.
ALIASES: dict[str, str] = {
    "css": "styles",
    "js": "scripts",
    "block_cookies": "block_cookie_banners",
    "async": "async_",
}

_LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


class CaptureOptions(BaseModel):
    """Every capture parameter of the spec. Build with :meth:`parse`, never directly from input.

    After :meth:`parse`, ``width``, ``height``, ``device_scale_factor`` and ``media_type`` hold
    their effective values (the device preset applied), so equal requests compare equal.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # source
    url: Annotated[str, Field(max_length=MAX_URL_LENGTH)] | None = Field(
        default=None, description="The page to capture: http or https."
    )
    html: str | None = Field(default=None, description="Raw HTML to render (at most 2 MB).")
    html_base64: str | None = Field(default=None, description="The same HTML, base64-encoded.")
    # viewport
    width: Annotated[int, Field(ge=100, le=4000)] | None = Field(
        default=None, description="Viewport width in CSS px (default 1280, or the device's)."
    )
    height: Annotated[int, Field(ge=100, le=4000)] | None = Field(
        default=None, description="Viewport height in CSS px (default 800, or the device's)."
    )
    device: Annotated[str, Field(max_length=100)] = Field(
        default="desktop", description="desktop, mobile, tablet, or a Playwright device name."
    )
    device_scale_factor: Annotated[float, Field(ge=1, le=4)] | None = Field(
        default=None, description="Device pixel ratio, 1-4 (default 1, or the device's)."
    )
    viewport_mobile: Bool = Field(default=False, description="Mobile emulation: meta viewport, touch.")
    # output
    format: Format = Field(default="png", description="png, jpeg (jpg), webp or pdf.")
    quality: Annotated[int, Field(ge=1, le=100)] = Field(default=80, description="jpeg/webp quality.")
    full_page: Bool = Field(default=False, description="Capture the whole scrollable page.")
    selector: Selector | None = Field(default=None, description="Capture only this element.")
    clip_x: Annotated[int, Field(ge=0, le=100_000)] = 0
    clip_y: Annotated[int, Field(ge=0, le=100_000)] = 0
    clip_width: Annotated[int, Field(ge=0, le=100_000)] = Field(
        default=0, description="Clip rectangle width; 0 disables the clip."
    )
    clip_height: Annotated[int, Field(ge=0, le=100_000)] = Field(
        default=0, description="Clip rectangle height; 0 disables the clip."
    )
    omit_background: Bool = Field(default=False, description="Transparent background (png, webp).")
    image_width: Annotated[int, Field(ge=0, le=8000)] = Field(
        default=0, description="Resize the output to this width (0: no resize)."
    )
    image_height: Annotated[int, Field(ge=0, le=8000)] = Field(
        default=0, description="Resize the output to this height (0: no resize)."
    )
    scroll_to: Annotated[int, Field(ge=0, le=1_000_000)] | None = Field(
        default=None, description="Scroll to this Y position before capture."
    )
    # timing
    delay: Annotated[int, Field(ge=0, le=10000)] = Field(
        default=0, description="Extra wait in ms after the page is ready."
    )
    wait_until: WaitUntil = Field(default="load", description="When navigation counts as done.")
    wait_for_selector: Selector | None = Field(
        default=None, description="Wait for this selector to be visible."
    )
    timeout: Annotated[int, Field(ge=1000, le=60000)] | None = Field(
        default=None, description="Page timeout in ms (default 30000, capped by the server)."
    )
    # emulation
    dark_mode: Bool = Field(default=False, description="prefers-color-scheme: dark.")
    reduced_motion: Bool = Field(default=False, description="prefers-reduced-motion: reduce.")
    media_type: Literal["screen", "print"] | None = Field(
        default=None, description="CSS media type (default screen; print for pdf)."
    )
    timezone: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="IANA time zone, e.g. Europe/Berlin."
    )
    locale: Annotated[str, Field(max_length=35)] | None = Field(
        default=None, description="Locale, e.g. de-DE: navigator.language and Accept-Language."
    )
    geolocation_latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    geolocation_longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    geolocation_accuracy: Annotated[float, Field(ge=0, le=1_000_000)] = 100
    user_agent: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    headers: Annotated[
        dict[HeaderName, HeaderValue], BeforeValidator(_parse_json), Field(max_length=20)
    ] | None = Field(default=None, description="Extra request headers, at most 20.")
    cookies: Annotated[list[Cookie], BeforeValidator(_parse_json), Field(max_length=50)] | None = (
        Field(default=None, description="Cookies to set, at most 50.")
    )
    local_storage: Annotated[
        dict[StorageKey, StorageValue], BeforeValidator(_storage),
        Field(max_length=MAX_STORAGE_ENTRIES),
    ] | None = Field(default=None, description="Set in the page's origin before its scripts run.")
    styles: Annotated[str, Field(max_length=MAX_INJECT_BYTES)] | None = Field(
        default=None, description="CSS injected before capture (alias css)."
    )
    scripts: Annotated[str, Field(max_length=MAX_INJECT_BYTES)] | None = Field(
        default=None, description="JavaScript run before capture (alias js)."
    )
    hide_selectors: SelectorList | None = Field(
        default=None, description="Comma-separated selectors hidden with display:none."
    )
    click: Selector | None = Field(default=None, description="Click this element before capture.")
    actions: Annotated[list[Action], BeforeValidator(_parse_json), Field(max_length=20)] | None = (
        Field(default=None, description="Steps run in order before capture, at most 20.")
    )
    redact: SelectorList | None = Field(default=None, description="Selectors masked before capture.")
    redact_mode: Literal["block", "blur"] = Field(default="block", description="block or blur.")
    block_ads: Bool = Field(default=False, description="Block ads with the filter lists.")
    block_trackers: Bool = Field(default=False, description="Block trackers with the filter lists.")
    block_cookie_banners: Bool = Field(default=False, description="Hide or refuse consent banners.")
    block_requests: SelectorList | None = Field(
        default=None, description="URL patterns (* wildcards) to block.")
    stealth: Bool = Field(default=False, description="Hide the usual headless tells (best effort).")
    pdf_print_background: Bool = False
    pdf_landscape: Bool = False
    pdf_paper_format: PaperFormat = "a4"
    extract_content: Bool = Field(default=False, description="Add the page's main content.")
    content_format: Literal["markdown", "html", "text"] = Field(
        default="markdown", description="markdown, html or text.")
    metadata: Bool = Field(default=False, description="Add the page's metadata.")
    # delivery (never part of the cache key)
    response_type: Literal["image", "base64", "json"] = "image"
    cache: Bool = True
    cache_ttl: Annotated[int, Field(ge=60, le=2_592_000)] | None = None
    async_: Bool = Field(default=False, alias="async")
    webhook_url: Annotated[str, Field(max_length=MAX_URL_LENGTH)] | None = None
    webhook_secret: Annotated[str, Field(max_length=1024)] | None = None
    download: Bool = Field(default=False, description="Content-Disposition: attachment.")

    _device: Device = PrivateAttr(default_factory=lambda: PRESETS["desktop"])
    #: The cache key, computed once at the end of validation (a hit needs it at once). Options
    #: are made only by :meth:`parse`; ``model_copy(update=...)`` skips validation and would
    #: keep a stale key, so derive new options with :meth:`parse` instead.
    _key: str = PrivateAttr(default="")

    # ------------------------------------------------------------------ parsing

    @classmethod
    def parse(
        cls, params: Mapping[str, Any], limits: ParseLimits | None = None
    ) -> CaptureOptions:
        """Validate a query mapping or a JSON object into options.

        Raises :class:`errors.ValidationError` (naming the field), :class:`errors.InvalidURL`
        or :class:`errors.PayloadTooLarge`.
        """
        limits = limits or ParseLimits()
        data = _canonical_names(params)
        try:
            return cls.model_validate(data, context={"limits": limits})
        except pydantic.ValidationError as exc:
            raise _translate(exc) from None

    @pydantic.model_validator(mode="after")
    def _resolve(self, info: pydantic.ValidationInfo) -> CaptureOptions:
        limits: ParseLimits = (info.context or {}).get("limits") or ParseLimits()
        set_ = object.__setattr__  # the model is frozen; this is its constructor

        sources = [n for n in ("url", "html", "html_base64") if getattr(self, n) is not None]
        if not sources:
            raise PydanticCustomError("missing", "one of url, html or html_base64 is required")
        if len(sources) > 1:
            raise PydanticCustomError("conflict", "give only one of url, html or html_base64")
        if self.url is not None:
            set_(self, "url", _check_url(self.url))
        if self.html_base64 is not None:
            set_(self, "html", _decode_html_base64(self.html_base64))
            set_(self, "html_base64", None)
        if self.html is not None and len(self.html.encode("utf-8")) > MAX_HTML_BYTES:
            raise PydanticCustomError("payload_too_large", "html is over 2 MB")

        device = PRESETS.get(self.device.lower()) or limits.devices.get(self.device.lower())
        if device is None:
            raise PydanticCustomError(
                "device", "unknown device '{name}': use desktop, mobile, tablet or a Playwright "
                "device name such as 'iPhone 15'", {"name": self.device}
            )
        set_(self, "device", device.name)
        self.__pydantic_private__["_device"] = device
        set_(self, "width", self.width or device.width)
        set_(self, "height", self.height or device.height)
        set_(self, "device_scale_factor", self.device_scale_factor or device.scale)
        if self.media_type is None:
            set_(self, "media_type", "print" if self.format == "pdf" else "screen")

        cap = limits.screenshot_timeout_ms
        if self.timeout is None:
            set_(self, "timeout", min(30000, cap))
        elif self.timeout > cap:
            raise PydanticCustomError(
                "timeout", "timeout may be at most {cap} ms on this server", {"cap": cap}
            )
        if self.timezone is not None:
            _check_timezone(self.timezone)
        if self.locale is not None and not _LOCALE_RE.match(self.locale):
            raise PydanticCustomError("locale", "locale must look like en or de-DE")
        has_lat = self.geolocation_latitude is not None
        if has_lat != (self.geolocation_longitude is not None):
            raise PydanticCustomError(
                "geolocation", "geolocation_latitude and geolocation_longitude go together"
            )
        if (self.clip_width == 0) != (self.clip_height == 0):
            raise PydanticCustomError("clip", "clip_width and clip_height go together")
        if self.webhook_url is not None:
            if not self.async_:
                raise PydanticCustomError("webhook", "webhook_url needs async=true")
            try:
                set_(self, "webhook_url", _check_url(self.webhook_url))
            except PydanticCustomError as exc:
                raise PydanticCustomError(
                    "invalid_webhook_url", "webhook_url: {err}", {"err": exc.message()}
                ) from None
        if self.local_storage and self.url is None:
            raise PydanticCustomError(
                "local_storage", "local_storage needs url: raw html has no origin to store in")
        if self.webhook_secret is not None and self.webhook_url is None:
            raise PydanticCustomError("webhook_secret", "webhook_secret needs webhook_url")
        self.__pydantic_private__["_key"] = self._compute_key()  # type: ignore[index]
        return self

    # ------------------------------------------------------------------ derived views

    @property
    def device_preset(self) -> Device:
        return self._device

    @property
    def is_mobile(self) -> bool:
        return self.viewport_mobile or self._device.is_mobile

    @property
    def has_touch(self) -> bool:
        return self.viewport_mobile or self._device.has_touch

    @property
    def effective_user_agent(self) -> str | None:
        return self.user_agent or self._device.user_agent

    @property
    def clip(self) -> dict[str, int] | None:
        if self.clip_width and self.clip_height:
            return {"x": self.clip_x, "y": self.clip_y,
                    "width": self.clip_width, "height": self.clip_height}
        return None

    def context_options(self) -> dict[str, Any]:
        """The options that must be given when a browser context is created.

        An empty dict means a pre-warmed default context serves the request. Viewport, colour
        scheme, media, headers, cookies and geolocation are applied to a context after it exists.
        """
        opts: dict[str, Any] = {}
        if self.effective_user_agent:
            opts["user_agent"] = self.effective_user_agent
        if self.locale:
            opts["locale"] = self.locale
        if self.timezone:
            opts["timezone_id"] = self.timezone
        if self.device_scale_factor != 1:
            opts["device_scale_factor"] = self.device_scale_factor
        if self.is_mobile:
            opts["is_mobile"] = True
        if self.has_touch:
            opts["has_touch"] = True
        if self.stealth:
            opts["stealth"] = True
        return opts

    @property
    def blocks_requests(self) -> bool:
        """Whether the capture filters the page's requests."""
        return bool(self.block_ads or self.block_trackers or self.block_requests)

    @property
    def reads_page(self) -> bool:
        """Whether the capture keeps the page's HTML (for content or metadata)."""
        return self.extract_content or self.metadata

    def cache_key(self) -> str:
        """SHA-256 over the options that change the output, plus a format version."""
        return self.__pydantic_private__["_key"] or self._compute_key()  # type: ignore[index]

    def _compute_key(self) -> str:
        payload = self.model_dump(mode="json", exclude=_DELIVERY_FIELDS, by_alias=False)
        payload["_v"] = CACHE_FORMAT_VERSION
        if self.format not in ("jpeg", "webp"):
            payload.pop("quality")
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    @property
    def extension(self) -> str:
        return "jpg" if self.format == "jpeg" else self.format


CONTENT_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "pdf": "application/pdf",
}

_DELIVERY_FIELDS = {
    "response_type", "cache", "cache_ttl", "async_", "webhook_url", "webhook_secret", "download",
}

#: Every name a request may use: field names, field aliases and the extra aliases.
_FIELD_NAMES = {name for name in CaptureOptions.model_fields if name != "async_"}
KNOWN_PARAMS = frozenset(_FIELD_NAMES | set(ALIASES) | {"theme", "wait_for"} | NON_OPTION_PARAMS)


# --------------------------------------------------------------------------- helpers


def _canonical_names(params: Mapping[str, Any]) -> dict[str, Any]:
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
        if name not in KNOWN_PARAMS:
            raise errors.ValidationError(_unknown_message(name), field=name)
        if name == "theme":
            if not isinstance(value, str) or value.lower() not in ("dark", "light"):
                raise errors.ValidationError("theme must be dark or light", field="theme")
            put(name, "dark_mode", value.lower() == "dark")
        elif name == "wait_for":
            put(name, *_wait_for(value))
        elif name == "format" and isinstance(value, str) and value.lower() == "jpg":
            put(name, "format", "jpeg")
        elif name == "wait_until" and value == "networkidle":
            put(name, "wait_until", "networkidle0")
        else:
            put(name, ALIASES.get(name, name), value)
    return data


def _wait_for(value: Any) -> tuple[str, Any]:
    """``wait_for`` is a selector, or a number of milliseconds (then it means ``delay``)."""
    if isinstance(value, bool):
        raise errors.ValidationError("wait_for must be a selector or milliseconds", field="wait_for")
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        return "delay", int(value)
    return "wait_for_selector", value


def _unknown_message(name: str) -> str:
    message = f"unknown parameter '{name}'"
    close = difflib.get_close_matches(name, sorted(KNOWN_PARAMS - NON_OPTION_PARAMS), n=1)
    if not close and name.replace("_", "") in {k.replace("_", ""): k for k in KNOWN_PARAMS}:
        close = [{k.replace("_", ""): k for k in KNOWN_PARAMS}[name.replace("_", "")]]
    if close:
        message += f"; did you mean {close[0]!r}?"
    return message


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_SLASHES = re.compile(r"^[/\\]*")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))


def _check_url(url: str) -> str:
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


def _decode_html_base64(value: str) -> str:
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


def _check_timezone(name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone", "unknown time zone '{name}'", {"name": name}
        ) from None


_ERROR_FIELDS = {
    "missing": "url", "conflict": "url", "device": "device", "timeout": "timeout",
    "locale": "locale", "geolocation": "geolocation_latitude", "clip": "clip_width",
    "webhook": "webhook_url", "webhook_secret": "webhook_secret",
    "html_base64": "html_base64", "timezone": "timezone", "local_storage": "local_storage",
}


def _translate(exc: pydantic.ValidationError) -> errors.ScreenshotError:
    """Turn pydantic's first error into the spec's error, naming the field the caller used."""
    err = exc.errors(include_url=False)[0]
    loc = [str(p) for p in err["loc"]]
    kind = err["type"]
    field_name = loc[0] if loc else _ERROR_FIELDS.get(kind)
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
        return errors.ValidationError(_unknown_message(loc[-1]), field=loc[-1])
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
    if loc:
        where = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc).lstrip(".")
        message = f"{where}: {message}"
    return errors.ValidationError(message, field=field_name)
