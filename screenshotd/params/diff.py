"""The diff's request: where each of the two images comes from, pixelmatch's options
(:class:`DiffOptions`, which ``screenshotd diff`` builds from its flags too), and how to answer.
``GET /diff`` and ``POST /diff`` (JSON or multipart) read their parameters with
:func:`parse_diff_request`, and the OpenAPI document lists the same names."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, overload

from screenshotd import errors
from screenshotd.params.capture import KNOWN_PARAMS
from screenshotd.params.names import NON_OPTION_PARAMS
from screenshotd.params.values import parse_bool

RGB = tuple[int, int, int]

SIDES = (
    ("image1", "job_id_1", "cache_key_1", "before"),
    ("image2", "job_id_2", "cache_key_2", "after"),
)
SOURCE_NAMES = frozenset(name for side in SIDES for name in side)
DIFF_NAMES = frozenset({
    "threshold", "include_aa", "alpha", "aa_color", "diff_color", "diff_color_alt", "diff_mask",
    "response_type", "cache", "cache_ttl", "download",
})
#: Capture parameters the diff sets itself.
FIXED_CAPTURE = {"format": "png", "async": None, "url": "before and after",
                 "html": "before and after", "html_base64": "before and after",
                 "webhook_url": None, "webhook_secret": None}
RESPONSE_TYPES = ("image", "json", "base64")


@dataclass(frozen=True)
class DiffOptions:
    """pixelmatch's options, with its defaults, in Python's spelling."""

    threshold: float = 0.1
    include_aa: bool = False
    alpha: float = 0.1
    aa_color: RGB = (255, 255, 0)
    diff_color: RGB = (255, 0, 0)
    diff_color_alt: RGB | None = None
    diff_mask: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.threshold <= 1:
            raise ValueError("threshold must be between 0 and 1")
        if not 0 <= self.alpha <= 1:
            raise ValueError("alpha must be between 0 and 1")
        for name in ("aa_color", "diff_color", "diff_color_alt"):
            colour = getattr(self, name)
            if colour is None:
                continue
            if len(colour) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in colour):
                raise ValueError(f"{name} must be three integers from 0 to 255")

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold, "include_aa": self.include_aa, "alpha": self.alpha,
            "aa_color": list(self.aa_color), "diff_color": list(self.diff_color),
            "diff_color_alt": None if self.diff_color_alt is None else list(self.diff_color_alt),
            "diff_mask": self.diff_mask,
        }


@dataclass
class DiffRequest:
    """A validated diff request: the options, where each image comes from, how to answer."""

    options: DiffOptions
    sources: tuple[tuple[str, Any], tuple[str, Any]]
    response_type: str = "image"
    use_cache: bool = True
    cache_ttl: int | None = None
    download: bool = False
    capture: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- parsing


def parse_diff_request(params: Mapping[str, Any]) -> DiffRequest:
    """Validate the diff's parameters. Capture parameters are kept for
    :func:`_capture_options`, which validates them with the pages' URLs."""
    given = {k: v for k, v in params.items() if k not in NON_OPTION_PARAMS}
    sources = (_source(given, SIDES[0]), _source(given, SIDES[1]))
    capture = {k: v for k, v in given.items() if k not in DIFF_NAMES | SOURCE_NAMES}
    for name in capture:
        if name not in KNOWN_PARAMS:
            raise errors.ValidationError(_unknown(name), field=name)
    if str(capture.get("format", "")).lower() == "png":
        del capture["format"]  # what the diff captures anyway
    for name, instead in FIXED_CAPTURE.items():
        if name in capture:
            why = f"; use {instead}" if instead and name != "format" else ""
            what = ("the diff captures PNG, which is lossless" if name == "format"
                    else "not available for /diff")
            raise errors.ValidationError(f"{name}: {what}{why}", field=name)
    if capture and not any(kind in ("before", "after") for kind, _ in sources):
        name = next(iter(capture))
        raise errors.ValidationError(
            f"{name} is a capture parameter, and this diff captures no page (before/after)",
            field=name,
        )
    response_type = given.get("response_type", "image")
    if response_type not in RESPONSE_TYPES:
        raise errors.ValidationError("response_type must be image, json or base64",
                                     field="response_type")
    try:
        options = DiffOptions(
            threshold=_number(given, "threshold", 0.1),
            include_aa=_flag(given, "include_aa"),
            alpha=_number(given, "alpha", 0.1),
            aa_color=parse_colour(given, "aa_color", (255, 255, 0)),
            diff_color=parse_colour(given, "diff_color", (255, 0, 0)),
            diff_color_alt=parse_colour(given, "diff_color_alt", None),
            diff_mask=_flag(given, "diff_mask"),
        )
    except ValueError as exc:  # a bound DiffOptions checks; its message names the field
        name = str(exc).split()[0]
        raise errors.ValidationError(str(exc), field=name) from None
    cache_ttl = None
    if "cache_ttl" in given:
        cache_ttl = _integer(given, "cache_ttl", 60, 2_592_000)
        capture["cache_ttl"] = cache_ttl
    use_cache = _flag(given, "cache", default=True)
    if "cache" in given:
        capture["cache"] = use_cache
    return DiffRequest(options, sources, response_type, use_cache, cache_ttl,
                       _flag(given, "download"), capture)


def _unknown(name: str) -> str:
    known = sorted((KNOWN_PARAMS - NON_OPTION_PARAMS) | DIFF_NAMES | SOURCE_NAMES)
    close = difflib.get_close_matches(name, known, n=1)
    return f"unknown parameter '{name}'" + (f"; did you mean {close[0]!r}?" if close else "")


def _source(given: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str, Any]:
    present = [name for name in names if given.get(name) not in (None, "")]
    if not present:
        raise errors.ValidationError(
            f"the {'first' if names[0] == 'image1' else 'second'} image is missing: give "
            f"{', '.join(names[:-1])} or {names[-1]}", field=names[0],
        )
    if len(present) > 1:
        raise errors.ValidationError(
            f"{present[0]} and {present[1]} both give the same image; give one", field=present[1]
        )
    return present[0], given[present[0]]


def _number(given: Mapping[str, Any], name: str, default: float) -> float:
    value = given.get(name)
    if value is None:
        return default
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise errors.ValidationError(f"{name} must be a number from 0 to 1", field=name) from None
    if not 0 <= number <= 1:  # also refuses nan
        raise errors.ValidationError(f"{name} must be from 0 to 1, got {value}", field=name)
    return number


def _integer(given: Mapping[str, Any], name: str, lo: int, hi: int) -> int:
    value = given[name]
    if isinstance(value, bool) or not re.fullmatch(r"\s*\d+\s*", str(value)):
        raise errors.ValidationError(f"{name} must be a whole number", field=name)
    number = int(value)
    if not lo <= number <= hi:
        raise errors.ValidationError(f"{name} must be from {lo} to {hi}", field=name)
    return number


def _flag(given: Mapping[str, Any], name: str, default: bool = False) -> bool:
    if given.get(name) is None:
        return default
    try:
        return parse_bool(given[name])
    except ValueError:
        raise errors.ValidationError(f"{name} must be true, false, 1 or 0", field=name) from None


@overload
def parse_colour(given: Mapping[str, Any], name: str, default: RGB) -> RGB: ...


@overload
def parse_colour(given: Mapping[str, Any], name: str, default: None) -> RGB | None: ...


def parse_colour(given: Mapping[str, Any], name: str,
            default: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
    """``255,0,0``, ``#ff0000``, ``ff0000`` or a JSON array ``[255, 0, 0]``."""
    value = given.get(name)
    if value is None:
        return default
    parts: Any = value
    if isinstance(value, str):
        text = value.strip()
        hex_ = text.removeprefix("#")
        if re.fullmatch(r"[0-9a-fA-F]{6}", hex_):
            return int(hex_[0:2], 16), int(hex_[2:4], 16), int(hex_[4:6], 16)
        if text.startswith("["):
            try:
                parts = json.loads(text)
            except json.JSONDecodeError:
                parts = None
        else:
            parts = text.split(",")
    try:
        if len(parts) == 3 and not any(isinstance(p, bool | float) for p in parts):
            rgb = tuple(int(str(p).strip()) for p in parts)
            if all(0 <= c <= 255 for c in rgb):
                return rgb[0], rgb[1], rgb[2]
    except (TypeError, ValueError):
        pass
    raise errors.ValidationError(
        f"{name} must be a colour: r,g,b (0-255 each), #rrggbb or [r, g, b]", field=name
    )
