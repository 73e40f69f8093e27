"""The records of monitoring: a monitor, one check of it, a widget token; and how a request to
make or change a monitor is read.

A monitor's own fields (:data:`OWN_FIELDS`) say when and how it compares; everything else of the
request is the capture, checked as ``/screenshot`` checks it and kept as given. A monitor's
state::

    pending -> up <-> down        (paused: while ``paused`` is true)
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from screenshotd import errors
from screenshotd.core.jobs.records import iso

#: Defaults of a monitor's own fields.
DEFAULTS: dict[str, Any] = {
    "name": None, "every": 300, "threshold": 0.001, "pixel_threshold": 0.1, "ignore": [],
    "baseline": "previous", "confirm": True, "down_after": 2, "webhook_url": None,
    "webhook_secret": None, "paused": False,
}
OWN_FIELDS = frozenset(DEFAULTS) | {"url"}
#: Capture parameters a monitor cannot take: how an answer is delivered is the monitor's.
NOT_FOR_MONITORS = frozenset({
    "async", "response_type", "download", "store", "signed_link", "signed_link_expires_in",
    "cache", "cache_ttl", "client_metadata", "metadata", "outputs", "extract_content",
    "content_format", "duration", "fps", "scroll"})
#: What every check adds, unless the monitor says otherwise: a page that did not change
#: compares as unchanged.
CHECK_DEFAULTS = {"animations": "disabled", "wait_for_stable": True, "caret": "hide"}
IMAGE_FORMATS = ("png", "jpeg", "jpg", "webp")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass
class Monitor:
    id: str
    owner: str
    url: str
    capture: dict[str, Any]
    created_at: float
    updated_at: float
    next_check_at: float
    #: The service's address as the monitor's creator reached it: its links start with it.
    base_url: str = ""
    name: str | None = None
    every: int = 300
    threshold: float = 0.001
    pixel_threshold: float = 0.1
    ignore: list[str] = field(default_factory=list)
    baseline: str = "previous"
    confirm: bool = True
    down_after: int = 2
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    paused: bool = False
    #: pending (no success yet), up, down
    health: str = "pending"
    failures_in_row: int = 0
    baseline_check: str | None = None
    last_check: str | None = None
    last_change: str | None = None
    #: An unchanged check whose image is kept while it is the latest (dropped at the next).
    kept_latest: str | None = None

    @property
    def state(self) -> str:
        return "paused" if self.paused else self.health

    def settings(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in DEFAULTS}

    def to_json(self, checks: Mapping[str, Check | None] | None = None,
                uptime: Mapping[str, float | None] | None = None) -> dict[str, Any]:
        settings = self.settings()
        settings.pop("webhook_secret")
        checks = checks or {}
        last, change = checks.get("last"), checks.get("change")
        return {
            "id": self.id, "url": self.url, **settings,
            "webhook_signed": self.webhook_secret is not None,
            "capture": self.capture, "state": self.state,
            "created_at": iso(self.created_at), "updated_at": iso(self.updated_at),
            "next_check_at": None if self.paused else iso(self.next_check_at),
            "baseline_check_id": self.baseline_check,
            "last_check": last.to_json() if last is not None else None,
            "last_change": change.to_json() if change is not None else None,
            "uptime": dict(uptime or {}),
        }


@dataclass
class Check:
    id: str
    monitor_id: str
    at: float
    status: str  # baseline, unchanged, changed, failed
    http_status: int | None = None
    load_ms: int | None = None
    changed_pixels: int | None = None
    changed_fraction: float | None = None
    regions: list[dict[str, int]] = field(default_factory=list)
    baseline_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    #: Whether its screenshot and diff images are kept.
    has_image: bool = False
    has_diff: bool = False
    width: int | None = None
    height: int | None = None
    #: Links to its images, filled in by whoever shows it (they need the base URL).
    links: dict[str, str | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "monitor_id": self.monitor_id, "at": iso(self.at),
            "status": self.status, "http_status": self.http_status, "load_ms": self.load_ms,
            "changed_fraction": self.changed_fraction, "changed_pixels": self.changed_pixels,
            "regions": [{k: v for k, v in box.items() if k != "pixels"} for box in self.regions],
            "width": self.width, "height": self.height,
            "screenshot_url": self.links.get("screenshot"), "diff_url": self.links.get("diff"),
            "baseline_id": self.baseline_id,
            "error": None if self.error_code is None else {
                "code": self.error_code, "message": self.error_message},
        }


@dataclass
class Widget:
    token: str
    monitor_id: str
    owner: str
    created_at: float

    def to_json(self, base_url: str) -> dict[str, Any]:
        return {
            "token": self.token, "monitor_id": self.monitor_id,
            "created_at": iso(self.created_at),
            "badge": f"{base_url}/widget/badge/{self.token}.svg",
            "screenshot": f"{base_url}/widget/screenshot.png?t={self.token}",
            "script": f"{base_url}/widget/screenshot.js?t={self.token}",
            "status_page": f"{base_url}/widget/status/{self.token}",
            "embed": {
                "badge": f'<img src="{base_url}/widget/badge/{self.token}.svg" alt="uptime">',
                "screenshot": f'<script src="{base_url}/widget/screenshot.js?t={self.token}">'
                              "</script>",
                "status_page": f'<iframe src="{base_url}/widget/status/{self.token}" '
                               'width="640" height="720" style="border:0"></iframe>'},
        }


def read_request(body: Mapping[str, Any], *, min_every: int,
                 check_capture: Callable[[dict[str, Any]], Any],
                 current: Monitor | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A create (``current`` None) or change request as (the monitor's own fields, the capture
    parameters); every bad field is a VALIDATION_ERROR that names it. ``check_capture`` checks
    the capture parameters as ``/screenshot`` does (it raises on a bad one)."""
    own: dict[str, Any] = {}
    capture = dict(current.capture) if current is not None else {}
    for name, value in body.items():
        if name in OWN_FIELDS:
            own[name] = value
        elif name in NOT_FOR_MONITORS:
            raise errors.ValidationError(f"{name} is not for a monitor: its checks keep their "
                                         "images and compare them", field=name)
        else:
            capture[name] = value
    if current is None and not isinstance(own.get("url"), str):
        raise errors.ValidationError("url is required", field="url")
    _check_own(own, min_every)
    fmt = str(capture.get("format", "png")).lower()
    if fmt not in IMAGE_FORMATS:
        raise errors.ValidationError(f"a monitor compares images: format must be one of "
                                     f"{', '.join(IMAGE_FORMATS)}, not {fmt}", field="format")
    url = own.get("url", current.url if current is not None else None)
    ignore = own.get("ignore", current.ignore if current is not None else [])
    checked = {**capture, "url": url, **capture_defaults(capture)}
    if ignore:
        checked["redact"] = list(ignore)
    try:
        check_capture(checked)
    except errors.ScreenshotError as exc:
        if exc.field == "redact" and "redact" not in capture:
            exc.field = "ignore"
        raise
    return own, capture


def capture_defaults(capture: Mapping[str, Any]) -> dict[str, Any]:
    """What a check adds to the monitor's capture (unless the monitor sets them itself)."""
    return {name: value for name, value in CHECK_DEFAULTS.items()
            if name not in capture and _camel(name) not in capture}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _check_own(own: dict[str, Any], min_every: int) -> None:
    def number(name: str, lo: float, hi: float, integer: bool = False) -> None:
        value = own[name]
        kind = int if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or not lo <= value <= hi:
            what = "an integer" if integer else "a number"
            raise errors.ValidationError(f"{name} must be {what} from {lo:g} to {hi:g}",
                                         field=name)

    if "url" in own and not isinstance(own["url"], str):
        raise errors.ValidationError("url must be a string", field="url")
    if "every" in own:
        number("every", min_every, 30 * 86400, integer=True)
    if "threshold" in own:
        number("threshold", 0, 1)
    if "pixel_threshold" in own:
        number("pixel_threshold", 0, 1)
    if "down_after" in own:
        number("down_after", 1, 100, integer=True)
    for name in ("confirm", "paused"):
        if name in own and not isinstance(own[name], bool):
            raise errors.ValidationError(f"{name} must be true or false", field=name)
    if "baseline" in own and own["baseline"] not in ("previous", "pinned"):
        raise errors.ValidationError("baseline must be previous or pinned", field="baseline")
    if "name" in own and own["name"] is not None and (
            not isinstance(own["name"], str) or len(own["name"]) > 200):
        raise errors.ValidationError("name must be a string of at most 200 characters",
                                     field="name")
    if "ignore" in own:
        ignore = own["ignore"]
        if isinstance(ignore, str):
            ignore = own["ignore"] = [part.strip() for part in ignore.split(",") if part.strip()]
        if not isinstance(ignore, list) or len(ignore) > 50 or not all(
                isinstance(item, str) and 0 < len(item) <= 500 for item in ignore):
            raise errors.ValidationError("ignore must be a list of at most 50 CSS selectors",
                                         field="ignore")
        for selector in ignore:
            if not _balanced(selector):
                raise errors.ValidationError(f"ignore: {selector!r} is not a CSS selector "
                                             "(its brackets or quotes are not closed)",
                                             field="ignore")
    for name in ("webhook_url", "webhook_secret"):
        if name in own and own[name] is not None and (
                not isinstance(own[name], str) or len(own[name]) > 2048):
            raise errors.ValidationError(f"{name} must be a string", field=name)
    if own.get("webhook_url") and not own["webhook_url"].startswith(("http://", "https://")):
        raise errors.ValidationError("webhook_url must be an http(s) URL", field="webhook_url")


def _balanced(selector: str) -> bool:
    """Whether a selector's brackets and quotes close (the browser checks the rest)."""
    closing = {"(": ")", "[": "]"}
    stack: list[str] = []
    quote = ""
    for char in selector:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in closing:
            stack.append(closing[char])
        elif char in ")]":
            if not stack or stack.pop() != char:
                return False
    return not stack and not quote
