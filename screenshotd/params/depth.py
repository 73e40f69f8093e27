"""Capture options for what a page may load, which answers count, and what is settled before
the shot: ``block_resources``, ``fail_on_status``, ``animations``, ``caret`` and
``freeze_time``.

- ``block_resources``: resource types the page may not load (``image``, ``media``, ``font``,
  ``stylesheet``, ``script``, ``xhr``, ``fetch``, ``websocket``, ``other``), given as a
  comma-separated string or a JSON array. The page's own document is never blocked. Each
  blocked request is counted in ``blocked.resources``.
- ``fail_on_status``: main-document statuses that fail the capture, as codes (``404``), ranges
  (``500-599``) or classes (``4xx``), comma-separated. A match is ``422 UPSTREAM_STATUS``.

Both are keyed (mixed into the render options), in a normal form: the same set written two ways
is the same capture.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from screenshotd.params.values import Bool, parse_list

RESOURCE_TYPES = ("image", "media", "font", "stylesheet", "script", "xhr", "fetch",
                  "websocket", "other")
#: ``freeze_time``: how far the page's stopped clock is moved (at once, its timers and animation
#: frames firing in order) once the page has loaded, so that what they draw on entry is drawn.
FROZEN_RUN_MS = 2000
_STATUS_PART = re.compile(r"([1-5])xx|(\d{3})(?:-(\d{3}))?")


class DepthFields(BaseModel):
    """Blocking by resource type, failing on the page's status, and what is settled before
    the shot."""

    #: A mixin, never validated alone: only the whole options model is built.
    model_config = ConfigDict(defer_build=True)

    animations: Literal["allow", "disabled"] = Field(
        default="allow", description="disabled: finite CSS animations, transitions and Web "
        "Animations jump to their end and infinite ones are cancelled, before the shot.")
    caret: Literal["hide", "initial"] = Field(
        default="hide", description="The text caret: hide (a blinking caret makes shots "
        "differ) or initial.")
    wait_for_stable: Bool = Field(
        default=True, description="Before the shot, wait until the page stops moving (two "
        "identical frames), within STABLE_BUDGET_MS; X-Stable says whether it did.")
    freeze_time: Annotated[str, Field(max_length=40)] | None = Field(
        default=None, description="An ISO 8601 time or epoch milliseconds: the page's clock "
        "(Date, timers, animation frames, performance.now) stands at that time while it loads, "
        "then runs 2 s of page time at once before the shot.")

    @pydantic.field_validator("freeze_time", mode="before")
    @classmethod
    def _time(cls, value: object) -> object:
        if value is None or isinstance(value, bool):
            return value
        text = str(value).strip()
        try:
            if re.fullmatch(r"-?\d+", text):
                moment = datetime.fromtimestamp(int(text) / 1000, tz=UTC)
            else:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z",
                                                                                    "+00:00"))
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
        except (ValueError, OverflowError, OSError):
            raise PydanticCustomError(
                "time", "expected an ISO 8601 time (2024-05-01T12:00:00Z) or epoch ms") from None
        if not 1970 <= moment.year <= 2200:
            raise PydanticCustomError("time", "a time between 1970 and 2200")
        return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace(
            "+00:00", "Z")

    block_resources: Annotated[list[str], BeforeValidator(parse_list),
                               Field(max_length=len(RESOURCE_TYPES))] | None = Field(
        default=None, description="Resource types to refuse: image, media, font, stylesheet, "
        "script, xhr, fetch, websocket, other.")
    fail_on_status: Annotated[str, Field(max_length=200)] | None = Field(
        default=None, description="Main-document statuses that fail the capture (422 "
        "UPSTREAM_STATUS): codes, ranges (500-599) or classes (4xx), comma-separated.")

    @pydantic.field_validator("block_resources")
    @classmethod
    def _types(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        kinds = {str(kind).strip().lower() for kind in value if str(kind).strip()}
        unknown = sorted(kinds - set(RESOURCE_TYPES))
        if unknown:
            raise PydanticCustomError(
                "resource_type", "{unknown} is not a resource type; use {known}",
                {"unknown": unknown[0], "known": ", ".join(RESOURCE_TYPES)})
        return [kind for kind in RESOURCE_TYPES if kind in kinds] or None

    @pydantic.field_validator("fail_on_status")
    @classmethod
    def _statuses(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return ",".join(f"{lo}-{hi}" if lo != hi else str(lo)
                        for lo, hi in status_ranges(value))


def status_ranges(value: str) -> list[tuple[int, int]]:
    """``4xx,404,500-503`` as merged, sorted ranges; a 400-style error for a bad part."""
    ranges: list[tuple[int, int]] = []
    for part in value.split(","):
        part = part.strip().lower()
        match = _STATUS_PART.fullmatch(part)
        if match is None:
            raise PydanticCustomError(
                "status", "{part!r} is not a status, a range (500-599) or a class (4xx)",
                {"part": part[:20]})
        if match.group(1):
            lo, hi = int(match.group(1)) * 100, int(match.group(1)) * 100 + 99
        else:
            lo = int(match.group(2))
            hi = int(match.group(3) or lo)
        if not 100 <= lo <= hi <= 599:
            raise PydanticCustomError("status", "{part!r}: statuses go from 100 to 599, low "
                                      "to high", {"part": part[:20]})
        ranges.append((lo, hi))
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def fails(fail_on_status: str | None, status: int | None) -> bool:
    """Whether the page's ``status`` is one ``fail_on_status`` (normalised) names."""
    if not fail_on_status or status is None:
        return False
    return any(lo <= status <= hi for lo, hi in status_ranges(fail_on_status))
