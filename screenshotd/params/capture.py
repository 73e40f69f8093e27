"""CaptureOptions: the single source of truth for every capture parameter.

Names, aliases, types, bounds, defaults and help text live on the models' fields. The same model
parses a GET query string and a POST JSON body, so both give identical options; it drives the
cache key and the OpenAPI document.

A request is two models in one: :class:`RenderOptions`, everything that decides the bytes, and
:class:`~screenshotd.params.delivery.DeliveryOptions`, how they are answered. The cache key is a
hash over the render options' fields (:data:`KEYED_FIELDS`), so a new option is keyed or not by
the class it is declared in, never by a list kept beside it; and the browser takes
``RenderOptions``, so the type checker refuses code there that reads a delivery option.

Parsing rules that make GET and POST identical (each value is read by
:mod:`screenshotd.params.values`; cookies, local storage and actions are the small models of
:mod:`screenshotd.params.parts`):

- booleans accept ``true``/``false``/``1``/``0`` (strings, JSON booleans, or 0/1);
- numbers may be JSON numbers or their decimal strings;
- JSON-valued parameters (``headers``, ``cookies``, ``local_storage``, ``actions``) may be JSON
  values or JSON text (what a query string can carry);
- list parameters (``hide_selectors``, ``redact``, ``block_requests``) may be a comma-separated
  string or a JSON array.

An unknown name is a 400 that names it, so ``fullpage=true`` is never silently ignored. Bounds
that depend on the server (``SCREENSHOT_TIMEOUT_MS``, the device table) are :class:`ParseLimits`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BeforeValidator, ConfigDict, Field, PrivateAttr
from pydantic_core import PydanticCustomError

from screenshotd.params.delivery import DeliveryOptions
from screenshotd.params.depth import DepthFields
from screenshotd.params.devices import PRESETS, Device
from screenshotd.params.names import ALIASES, NON_OPTION_PARAMS, canonical_names, translate
from screenshotd.params.parts import (
    MAX_STORAGE_ENTRIES,
    Action,
    Cookie,
    StorageKey,
    StorageValue,
    storage_object,
)
from screenshotd.params.pdf import NEWER_DEFAULTS as PDF_DEFAULTS
from screenshotd.params.pdf import PdfFields, resolve_pdf
from screenshotd.params.proxies import TAG_PARAMS, ProxyFields, ProxyTable, resolve_proxy
from screenshotd.params.values import (
    MAX_HTML_BYTES,
    MAX_INJECT_BYTES,
    MAX_URL_LENGTH,
    Bool,
    HeaderName,
    HeaderValue,
    Selector,
    SelectorList,
    check_timezone,
    check_url,
    decode_html_base64,
    parse_json,
    parse_list,
)
from screenshotd.params.video import VIDEO_FORMATS, VideoFields, is_video
from screenshotd.params.video import resolve as resolve_video

#: What ``outputs`` may name: the image, the page's main content in each format, metadata.
OUTPUT_NAMES = ("screenshot", "markdown", "html", "text", "metadata")
OutputName = Literal["screenshot", "markdown", "html", "text", "metadata"]

#: Bumped whenever the bytes a given set of options produces may change, so that old cache
#: entries are never served for new code.
CACHE_FORMAT_VERSION = 3


@dataclass(frozen=True)
class ParseLimits:
    """Bounds that depend on the server rather than on the spec."""

    screenshot_timeout_ms: int = 30000
    devices: Mapping[str, Device] = field(default_factory=dict)
    proxies: ProxyTable = field(default_factory=ProxyTable)


# --------------------------------------------------------------------------- the model

Format = Literal["png", "jpeg", "webp", "pdf", "mp4", "webm"]
WaitUntil = Literal["load", "domcontentloaded", "networkidle0", "networkidle2"]


_LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


class RenderOptions(VideoFields, ProxyFields, DepthFields, PdfFields):
    """The keyed options: everything that decides the bytes of a capture, and nothing else.
    The cache key is a hash over exactly these fields, and the browser and the image
    post-processing take this type, so they cannot read a delivery option by mistake.

    After validation, ``width``, ``height``, ``device_scale_factor`` and ``media_type`` hold
    their effective values (the device preset applied), so equal requests compare equal.
    """

    # never validated alone: built only as CaptureOptions, as its mixins (50 ms at start-up)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    # source
    url: Annotated[str, Field(max_length=MAX_URL_LENGTH)] | None = Field(
        default=None, description="The page to capture: http or https.")
    html: str | None = Field(default=None, description="Raw HTML to render (at most 2 MB).")
    html_base64: str | None = Field(default=None, description="The same HTML, base64-encoded.")
    # viewport
    width: Annotated[int, Field(ge=100, le=4000)] | None = Field(
        default=None, description="Viewport width in CSS px (default 1280, or the device's).")
    height: Annotated[int, Field(ge=100, le=4000)] | None = Field(
        default=None, description="Viewport height in CSS px (default 800, or the device's).")
    device: Annotated[str, Field(max_length=100)] = Field(
        default="desktop", description="desktop, mobile, tablet, or a Playwright device name.")
    device_scale_factor: Annotated[float, Field(ge=1, le=4)] | None = Field(
        default=None, description="Device pixel ratio, 1-4 (default 1, or the device's).")
    viewport_mobile: Bool = Field(default=False, description="Mobile emulation: meta viewport, touch.")
    # output
    format: Format = Field(default="png", description="png, jpeg (jpg), webp, pdf; mp4 or "
                           "webm record a video (as /video does).")
    quality: Annotated[int, Field(ge=1, le=100)] = Field(default=80, description="jpeg/webp quality.")
    full_page: Bool = Field(default=False, description="Capture the whole scrollable page.")
    selector: Selector | None = Field(default=None, description="Capture only this element.")
    clip_x: Annotated[int, Field(ge=0, le=100_000)] = 0
    clip_y: Annotated[int, Field(ge=0, le=100_000)] = 0
    clip_width: Annotated[int, Field(ge=0, le=100_000)] = Field(
        default=0, description="Clip rectangle width; 0 disables the clip.")
    clip_height: Annotated[int, Field(ge=0, le=100_000)] = Field(
        default=0, description="Clip rectangle height; 0 disables the clip.")
    omit_background: Bool = Field(default=False, description="Transparent background (png, webp).")
    image_width: Annotated[int, Field(ge=0, le=8000)] = Field(
        default=0, description="Resize the output to this width (0: no resize).")
    image_height: Annotated[int, Field(ge=0, le=8000)] = Field(
        default=0, description="Resize the output to this height (0: no resize).")
    scroll_to: Annotated[int, Field(ge=0, le=1_000_000)] | None = Field(
        default=None, description="Scroll to this Y position before capture.")
    # timing
    delay: Annotated[int, Field(ge=0, le=10000)] = Field(
        default=0, description="Extra wait in ms after the page is ready.")
    wait_until: WaitUntil = Field(default="load", description="When navigation counts as done.")
    wait_for_selector: Selector | None = Field(
        default=None, description="Wait for this selector to be visible.")
    timeout: Annotated[int, Field(ge=1000, le=60000)] | None = Field(
        default=None, description="Page timeout in ms (default 30000, capped by the server).")
    # emulation
    dark_mode: Bool = Field(default=False, description="prefers-color-scheme: dark.")
    reduced_motion: Bool = Field(default=False, description="prefers-reduced-motion: reduce.")
    media_type: Literal["screen", "print"] | None = Field(
        default=None, description="CSS media type (default screen; print for pdf).")
    timezone: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="IANA time zone, e.g. Europe/Berlin.")
    locale: Annotated[str, Field(max_length=35)] | None = Field(
        default=None, description="Locale, e.g. de-DE: navigator.language and Accept-Language.")
    geolocation_latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    geolocation_longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    geolocation_accuracy: Annotated[float, Field(ge=0, le=1_000_000)] = 100
    user_agent: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    headers: Annotated[
        dict[HeaderName, HeaderValue], BeforeValidator(parse_json), Field(max_length=20)
    ] | None = Field(default=None, description="Extra request headers, at most 20.")
    cookies: Annotated[list[Cookie], BeforeValidator(parse_json), Field(max_length=50)] | None = (
        Field(default=None, description="Cookies to set, at most 50.")
    )
    local_storage: Annotated[
        dict[StorageKey, StorageValue], BeforeValidator(storage_object),
        Field(max_length=MAX_STORAGE_ENTRIES),
    ] | None = Field(default=None, description="Set in the page's origin before its scripts run.")
    styles: Annotated[str, Field(max_length=MAX_INJECT_BYTES)] | None = Field(
        default=None, description="CSS injected before capture (alias css).")
    scripts: Annotated[str, Field(max_length=MAX_INJECT_BYTES)] | None = Field(
        default=None, description="JavaScript run before capture (alias js).")
    hide_selectors: SelectorList | None = Field(
        default=None, description="Comma-separated selectors hidden with display:none.")
    click: Selector | None = Field(default=None, description="Click this element before capture.")
    actions: Annotated[list[Action], BeforeValidator(parse_json), Field(max_length=20)] | None = (
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
    extract_content: Bool = Field(default=False, description="Add the page's main content.")
    content_format: Literal["markdown", "html", "text"] = Field(
        default="markdown", description="markdown, html or text.")
    metadata: Bool = Field(default=False, description="Add the page's metadata.")
    outputs: Annotated[list[OutputName], BeforeValidator(parse_list),
                       Field(min_length=1, max_length=len(OUTPUT_NAMES))] | None = Field(
        default=None, description="What one page load gives: screenshot, markdown, html, text "
        "and metadata, any of them (the screenshot is always taken). For jobs, each is listed "
        "in the job's outputs.")

    @pydantic.field_validator("outputs")
    @classmethod
    def _distinct_outputs(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            twice = next(name for name in value if value.count(name) > 1)
            raise PydanticCustomError("outputs", "{name} is listed twice", {"name": twice})
        return value

    _device: Device = PrivateAttr(default_factory=lambda: PRESETS["desktop"])
    #: The cache key, computed once at the end of validation (a hit needs it at once). Options
    #: are made only by :meth:`parse`; ``model_copy(update=...)`` skips validation and would
    #: keep a stale key, so derive new options with :meth:`parse` instead.
    _key: str = PrivateAttr(default="")

    def _private(self) -> dict[str, Any]:
        """The private attributes, set during validation (the model is frozen)."""
        private = self.__pydantic_private__
        assert private is not None, "CaptureOptions has private attributes"
        return private

    # ------------------------------------------------------------------ parsing

    @pydantic.model_validator(mode="after")
    def _resolve(self, info: pydantic.ValidationInfo) -> RenderOptions:
        limits: ParseLimits = (info.context or {}).get("limits") or ParseLimits()
        set_ = object.__setattr__  # the model is frozen; this is its constructor

        sources = [n for n in ("url", "html", "html_base64") if getattr(self, n) is not None]
        if not sources:
            raise PydanticCustomError("missing", "one of url, html or html_base64 is required")
        if len(sources) > 1:
            raise PydanticCustomError("conflict", "give only one of url, html or html_base64")
        if self.url is not None:
            set_(self, "url", check_url(self.url))
        if self.html_base64 is not None:
            set_(self, "html", decode_html_base64(self.html_base64))
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
        self._private()["_device"] = device
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
            check_timezone(self.timezone)
        if self.locale is not None and not _LOCALE_RE.match(self.locale):
            raise PydanticCustomError("locale", "locale must look like en or de-DE")
        has_lat = self.geolocation_latitude is not None
        if has_lat != (self.geolocation_longitude is not None):
            raise PydanticCustomError(
                "geolocation", "geolocation_latitude and geolocation_longitude go together"
            )
        if (self.clip_width == 0) != (self.clip_height == 0):
            raise PydanticCustomError("clip", "clip_width and clip_height go together")
        resolve_video(self, set_)
        resolve_pdf(self, set_)
        resolve_proxy(self, limits.proxies, set_)
        if self.local_storage and self.url is None:
            raise PydanticCustomError(
                "local_storage", "local_storage needs url: raw html has no origin to store in")
        self._private()["_key"] = self._compute_key()
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
        if self.proxy:
            opts["upstream"] = self.proxy
        return opts

    @property
    def blocks_requests(self) -> bool:
        """Whether the capture filters the page's requests."""
        return bool(self.block_ads or self.block_trackers or self.block_requests
                    or self.block_resources)

    @property
    def outlives_page(self) -> bool:
        """Whether the capture adds to its page what a reset cannot take away (scripts that
        run before the page's own, a request filter): in page mode it gets a fresh context."""
        return (self.block_cookie_banners or bool(self.local_storage) or self.blocks_requests
                or self.proxy is not None  # a kept page's connections went out directly
                or self.freeze_time is not None)  # a clock cannot be taken out again

    @property
    def content_formats(self) -> list[str]:
        """The formats of the page's content to extract: ``content_format`` with
        ``extract_content``, and those ``outputs`` names."""
        formats: list[str] = [self.content_format] if self.extract_content else []
        for name in self.outputs or ():
            if name in ("markdown", "html", "text") and name not in formats:
                formats.append(name)
        return formats

    @property
    def wants_metadata(self) -> bool:
        return self.metadata or "metadata" in (self.outputs or ())

    @property
    def reads_page(self) -> bool:
        """Whether the capture keeps the page's HTML (for content or metadata)."""
        return bool(self.content_formats) or self.wants_metadata

    def cache_key(self) -> str:
        """SHA-256 over the options that change the output, plus a format version."""
        return str(self._private()["_key"] or self._compute_key())

    def _compute_key(self) -> str:
        payload = self.model_dump(mode="json", include=set(KEYED_FIELDS), by_alias=False)
        payload["_v"] = CACHE_FORMAT_VERSION
        if self.format not in ("jpeg", "webp"):
            payload.pop("quality")
        for name, unset in ADDED_LATER.items():  # keys made before these existed stay the same
            if payload[name] == unset or (unset is EMPTY and not payload[name]):
                payload.pop(name)
        for action in payload["actions"] or ():
            if not action["delay"]:
                action.pop("delay")
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    @property
    def is_video(self) -> bool:
        return is_video(self.format)

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    @property
    def extension(self) -> str:
        return "jpg" if self.format == "jpeg" else self.format


#: Keyed fields added after keys were first given out, with the value that leaves each out of
#: the key (:data:`EMPTY`: any empty value), so a capture that does not use them keeps its key.
EMPTY = object()
ADDED_LATER: dict[str, Any] = {
    **dict.fromkeys(("outputs", "duration", "fps", "scroll", "proxy", *TAG_PARAMS.values(),
                     "block_resources", "fail_on_status", "freeze_time"), EMPTY),
    **PDF_DEFAULTS, "animations": "allow", "caret": "hide", "wait_for_stable": True}

CONTENT_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "pdf": "application/pdf",
    **{fmt: f"video/{fmt}" for fmt in VIDEO_FORMATS},
}

#: The fields the cache key covers: the render options', by construction.
KEYED_FIELDS = frozenset(RenderOptions.model_fields)


class CaptureOptions(RenderOptions, DeliveryOptions):
    """A whole capture request: what to render (:class:`RenderOptions`, keyed) and how to
    deliver it (:class:`~screenshotd.params.delivery.DeliveryOptions`, never keyed). Build
    with :meth:`parse`, never directly from input."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=False)

    @classmethod
    def parse(
        cls, params: Mapping[str, Any], limits: ParseLimits | None = None
    ) -> CaptureOptions:
        """Validate a query mapping or a JSON object into options.

        Raises :class:`errors.ValidationError` (naming the field), :class:`errors.InvalidURL`
        or :class:`errors.PayloadTooLarge`.
        """
        limits = limits or ParseLimits()
        data = canonical_names(params, KNOWN_PARAMS)
        try:
            return cls.model_validate(data, context={"limits": limits})
        except pydantic.ValidationError as exc:
            raise translate(exc, KNOWN_PARAMS) from None


assert not KEYED_FIELDS & set(DeliveryOptions.model_fields), "an option is keyed and not"
assert set(CaptureOptions.model_fields) == KEYED_FIELDS | set(DeliveryOptions.model_fields), (
    "CaptureOptions declares no fields of its own: each is a render or a delivery option")

#: Every name a request may use: field names, field aliases and the extra aliases.
_FIELD_NAMES = {name for name in CaptureOptions.model_fields if name != "async_"}
KNOWN_PARAMS = frozenset(_FIELD_NAMES | set(ALIASES) | {"theme", "wait_for"} | NON_OPTION_PARAMS)
