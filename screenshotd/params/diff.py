"""The diff's request: where each of the two images comes from, pixelmatch's options and how
to answer.

One pydantic source: :class:`DiffParams` (pixelmatch's :class:`DiffOptions` and the answer's
options) holds every name, type, bound, default and description. ``GET``/``POST /diff``
validate with it (:func:`parse_diff_request`), ``screenshotd diff`` makes its flags from
:class:`DiffOptions`' fields, and the OpenAPI document lists :class:`DiffParams`' fields.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, get_args

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from screenshotd import errors
from screenshotd.params.capture import KNOWN_PARAMS
from screenshotd.params.names import NON_OPTION_PARAMS, snake_keys, translate
from screenshotd.params.values import Bool, decode_json, parse_bool

RGB = tuple[int, int, int]

SIDES = (
    ("image1", "job_id_1", "cache_key_1", "before"),
    ("image2", "job_id_2", "cache_key_2", "after"),
)
SOURCE_NAMES = frozenset(name for side in SIDES for name in side)
#: Other APIs' names for a diff's parameters: the job ids as ``request_id_1``/``request_id_2``,
#: and ``force`` (recompute the diff even when it is cached).
DIFF_ALIASES = {"request_id_1": "job_id_1", "request_id_2": "job_id_2"}
FORCE = "force"
#: Capture parameters the diff sets itself.
FIXED_CAPTURE = {"format": "png", "async": None, "url": "before and after",
                 "html": "before and after", "html_base64": "before and after",
                 "webhook_url": None, "webhook_secret": None}


def _unit(value: Any) -> float:
    """A number from 0 to 1 (a JSON number or its decimal string; not a boolean, not NaN)."""
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise PydanticCustomError("unit", "must be a number from 0 to 1") from None
    if not 0 <= number <= 1:  # also refuses nan
        raise PydanticCustomError("unit", "must be from 0 to 1, got {value}", {"value": value})
    return number


def _colour(value: Any) -> RGB:
    rgb = colour(value)
    if rgb is None:
        raise PydanticCustomError("colour", COLOUR_HELP)
    return rgb


COLOUR_HELP = "must be a colour: r,g,b (0-255 each), #rrggbb or [r, g, b]"
Unit = Annotated[float, Field(ge=0, le=1), BeforeValidator(_unit)]
Colour = Annotated[
    tuple[int, int, int], BeforeValidator(_colour),
    WithJsonSchema({"type": "string"}),
]


class DiffOptions(BaseModel):
    """pixelmatch's options, with its defaults, in Python's spelling. These fields, and only
    these, go into a diff's cache key (:meth:`to_json`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: Unit = Field(
        default=0.1, description="Colour difference that counts as a change: 0 (strict) to 1.")
    include_aa: Bool = Field(
        default=False, description="Count anti-aliased pixels as changed too.")
    alpha: Unit = Field(default=0.1, description="Opacity of the first image under the diff.")
    aa_color: Colour = Field(
        default=(255, 255, 0), description="Colour of anti-aliased pixels: r,g,b or #rrggbb.")
    diff_color: Colour = Field(
        default=(255, 0, 0), description="Colour of changed pixels: r,g,b or #rrggbb.")
    diff_color_alt: Colour | None = Field(
        default=None, description="Colour of changed pixels that got darker (default: "
        "diff_color).")
    diff_mask: Bool = Field(default=False, description="Draw only the changes, on transparency.")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", include=set(PIXELMATCH_FIELDS))


PIXELMATCH_FIELDS = frozenset(DiffOptions.model_fields)


class DiffParams(DiffOptions):
    """Everything a diff request says besides where its two images come from: pixelmatch's
    options and how to answer. ``GET``/``POST /diff`` validate with it, ``screenshotd diff``
    makes its flags from :class:`DiffOptions`' fields, and the OpenAPI document lists its
    fields."""

    response_type: Literal["image", "json", "base64"] = Field(
        default="image", description="image (the diff PNG), json (the numbers) or base64 "
        "(both).")
    cache: Bool = Field(
        default=True, description="Read the cache; also passed on to the pages' captures.")
    cache_ttl: Annotated[int, Field(ge=60, le=2_592_000)] | None = Field(
        default=None, description="Seconds to keep the diff (and the pages' captures).")
    download: Bool = Field(default=False, description="Content-Disposition: attachment.")

    def pixelmatch(self) -> DiffOptions:
        """The pixelmatch part alone (validated already)."""
        return DiffOptions.model_construct(
            **{name: getattr(self, name) for name in PIXELMATCH_FIELDS})


#: The diff's own parameter names, and every name a diff request may use.
DIFF_NAMES = frozenset(DiffParams.model_fields)
ALL_NAMES = (KNOWN_PARAMS - NON_OPTION_PARAMS) | DIFF_NAMES | SOURCE_NAMES | set(DIFF_ALIASES) | {
    FORCE}
RESPONSE_TYPES: tuple[str, ...] = get_args(DiffParams.model_fields["response_type"].annotation)


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
    given = snake_keys({k: v for k, v in params.items() if k not in NON_OPTION_PARAMS},
                       ALL_NAMES)
    for alias, name in DIFF_ALIASES.items():
        if alias in given:
            if name in given:
                raise errors.ValidationError(
                    f"{alias} and {name} set the same image; give only one", field=alias)
            given[name] = given.pop(alias)
    force = False
    if FORCE in given:
        try:
            force = parse_bool(given.pop(FORCE))
        except ValueError:
            raise errors.ValidationError("force must be true or false", field=FORCE) from None
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
    try:
        diff = DiffParams.model_validate({k: v for k, v in given.items() if k in DIFF_NAMES})
    except pydantic.ValidationError as exc:
        raise translate(exc, ALL_NAMES) from None
    if "cache_ttl" in given:  # the pages' captures are kept as long as the diff
        capture["cache_ttl"] = diff.cache_ttl
    if "cache" in given:
        capture["cache"] = diff.cache
    return DiffRequest(diff.pixelmatch(), sources, diff.response_type,
                       diff.cache and not force, diff.cache_ttl, diff.download, capture)


def _unknown(name: str) -> str:
    known = sorted(ALL_NAMES)
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


def colour(value: Any) -> RGB | None:
    """``255,0,0``, ``#ff0000``, ``ff0000``, a JSON array ``[255, 0, 0]`` (or its text), or a
    sequence of three integers, as (r, g, b); None when it is none of these."""
    parts: Any = value
    if isinstance(value, str):
        text = value.strip()
        hex_ = text.removeprefix("#")
        if re.fullmatch(r"[0-9a-fA-F]{6}", hex_):
            return int(hex_[0:2], 16), int(hex_[2:4], 16), int(hex_[4:6], 16)
        if text.startswith("["):
            try:
                parts = decode_json(text)
            except ValueError:
                return None
        else:
            parts = text.split(",")
    try:
        if len(parts) == 3 and not any(isinstance(p, bool | float) for p in parts):
            rgb = tuple(int(str(p).strip()) for p in parts)
            if all(0 <= c <= 255 for c in rgb):
                return rgb[0], rgb[1], rgb[2]
    except (TypeError, ValueError):
        pass
    return None
