"""The options of a PDF (``format=pdf``): paper, margins, scale, pages, headers and footers.

Lengths (margins, ``pdf_width``, ``pdf_height``) are CSS lengths: a number with ``px``, ``in``,
``cm`` or ``mm`` (a bare number is px), at most 200 in. ``pdf_page_ranges`` is ``1-3,5``; a
range past the last page is a 400 once the page is rendered, with the page count. Header and
footer templates are HTML with Chromium's ``date``, ``title``, ``url``, ``pageNumber`` and
``totalPages`` classes; either one turns both on (the other is empty).

The options added after the first three are keyed only when given, so older cache keys stay.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from screenshotd.params.values import Bool

PaperFormat = Literal["a4", "a3", "a2", "a1", "a0", "letter", "legal", "tabloid", "ledger"]
MAX_TEMPLATE_BYTES = 64 * 1024
_LENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*(px|in|cm|mm)?")
_PER_INCH = {"px": 96.0, "in": 1.0, "cm": 2.54, "mm": 25.4}
_RANGES = re.compile(r"\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*")
MAX_INCHES = 200

Length = Annotated[str, Field(max_length=20)]
Template = Annotated[str, Field(max_length=MAX_TEMPLATE_BYTES)]
#: The fields keyed only when they differ from these (added after keys existed).
NEWER_DEFAULTS: dict[str, Any] = {
    "pdf_margin_top": None, "pdf_margin_right": None, "pdf_margin_bottom": None,
    "pdf_margin_left": None, "pdf_scale": 1.0, "pdf_page_ranges": None,
    "pdf_header_template": None, "pdf_footer_template": None,
    "pdf_prefer_css_page_size": False, "pdf_width": None, "pdf_height": None,
    "pdf_tagged": False, "pdf_outline": False,
}


class PdfFields(BaseModel):
    """The options of ``format=pdf`` (mixed into the render options)."""

    #: A mixin, never validated alone: only the whole options model is built.
    model_config = ConfigDict(defer_build=True)

    pdf_print_background: Bool = Field(default=False, description="Print background colours "
                                       "and images.")
    pdf_landscape: Bool = Field(default=False, description="Landscape paper.")
    pdf_paper_format: PaperFormat = Field(default="a4", description="a4, a3, a2, a1, a0, "
                                          "letter, legal, tabloid, ledger.")
    pdf_margin_top: Length | None = Field(default=None, description="A CSS length (px, in, "
                                          "cm, mm); 0 by default.")
    pdf_margin_right: Length | None = Field(default=None, description="A CSS length.")
    pdf_margin_bottom: Length | None = Field(default=None, description="A CSS length.")
    pdf_margin_left: Length | None = Field(default=None, description="A CSS length.")
    pdf_scale: Annotated[float, Field(ge=0.1, le=2)] = Field(default=1.0, description="0.1-2.")
    pdf_page_ranges: Annotated[str, Field(max_length=200)] | None = Field(
        default=None, description="Pages to keep, e.g. 1-3,5.")
    pdf_header_template: Template | None = Field(
        default=None, description="HTML for each page's header; Chromium's classes date, "
        "title, url, pageNumber and totalPages are filled in.")
    pdf_footer_template: Template | None = Field(
        default=None, description="HTML for each page's footer, as the header.")
    pdf_prefer_css_page_size: Bool = Field(default=False, description="Use the page's own "
                                           "@page size.")
    pdf_width: Length | None = Field(default=None, description="A custom paper width (a CSS "
                                     "length); overrides pdf_paper_format.")
    pdf_height: Length | None = Field(default=None, description="A custom paper height.")
    pdf_tagged: Bool = Field(default=False, description="An accessible (tagged) PDF.")
    pdf_outline: Bool = Field(default=False, description="A document outline (bookmarks) "
                              "from the headings; turns pdf_tagged on, which Chromium builds "
                              "the outline from.")

    @pydantic.field_validator("pdf_margin_top", "pdf_margin_right", "pdf_margin_bottom",
                              "pdf_margin_left", "pdf_width", "pdf_height")
    @classmethod
    def _length(cls, value: str | None, info: pydantic.ValidationInfo) -> str | None:
        if value is None:
            return None
        inches = length_inches(value)
        if inches is None or inches > MAX_INCHES:
            raise PydanticCustomError(
                "length", "{value!r} is not a length of at most 200 in: a number with px, in, "
                "cm or mm", {"value": value[:20]})
        if info.field_name in ("pdf_width", "pdf_height") and inches < 0.1:
            raise PydanticCustomError("length", "a paper side of at least 0.1 in")
        return value.strip().lower().replace(" ", "")

    @pydantic.field_validator("pdf_page_ranges")
    @classmethod
    def _ranges(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        compact = value.replace(" ", "")
        if not _RANGES.fullmatch(compact):
            raise PydanticCustomError("ranges", "expected pages like 1-3,5")
        for part in compact.split(","):
            low, _, high = part.partition("-")
            if int(low) < 1 or (high and int(high) < int(low)):
                raise PydanticCustomError(
                    "ranges", "{part} is not a range of pages (they count from 1, low to high)",
                    {"part": part})
        return compact


def length_inches(value: str) -> float | None:
    """A CSS length in inches, or None when it is not one."""
    match = _LENGTH.fullmatch(value.strip().lower())
    if match is None:
        return None
    return float(match.group(1)) / _PER_INCH[match.group(2) or "px"]


def resolve_pdf(opts: Any, set_: Any) -> None:
    """PDF options on a picture are a 400 naming the first one given. An outline turns tagging
    on: Chromium builds the outline from the tagged structure, so alone it would be empty."""
    if opts.format == "pdf":
        if opts.pdf_outline:
            set_(opts, "pdf_tagged", True)
        return
    for name, default in NEWER_DEFAULTS.items():
        if getattr(opts, name) != default:
            raise PydanticCustomError("pdf_only", "{name} is for format=pdf",
                                      {"name": name, "field": name})


def last_page(ranges: str) -> int:
    """The highest page ``pdf_page_ranges`` names."""
    return max(int(part.rpartition("-")[2]) for part in ranges.split(","))
