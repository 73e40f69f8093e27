"""render(page, opts) -> bytes: the page printed to PDF with every ``pdf_*`` option.

Playwright's ``page.pdf`` (Chromium's ``Page.printToPDF``) with the paper (a named format, a
custom ``pdf_width`` × ``pdf_height``, or the page's own ``@page`` size), margins, scale, page
ranges, headers and footers, and a tagged PDF or an outline. A header or footer needs room: when
one is given without its margin, that margin is half an inch.

A page range past the last page is a 400 naming ``pdf_page_ranges`` with the document's page
count, which costs a second render only in that case.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from screenshotd import errors
from screenshotd.params.capture import RenderOptions
from screenshotd.params.pdf import last_page

#: Time allowed for printing, beyond the page's own ``timeout``.
PDF_TIMEOUT_S = 30.0
#: The margin a header or footer gets when its own is not given.
TEMPLATE_MARGIN = "0.5in"
PAPER_FORMATS = {
    "a4": "A4", "a3": "A3", "a2": "A2", "a1": "A1", "a0": "A0",
    "letter": "Letter", "legal": "Legal", "tabloid": "Tabloid", "ledger": "Ledger",
}
_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


async def render(page: Page, opts: RenderOptions) -> bytes:
    kwargs = pdf_kwargs(opts)
    try:
        data = await asyncio.wait_for(page.pdf(**kwargs), PDF_TIMEOUT_S)
    except PlaywrightError as exc:
        if not opts.pdf_page_ranges or "range" not in str(exc).lower():
            raise
        data = b""
    ranges = opts.pdf_page_ranges
    if ranges and (not data or page_count(data) < _pages_named(ranges)):
        kwargs.pop("page_ranges")
        total = page_count(await asyncio.wait_for(page.pdf(**kwargs), PDF_TIMEOUT_S))
        if last_page(ranges) > total:
            raise errors.ValidationError(
                f"pdf_page_ranges: {ranges} goes past the last page; the document has "
                f"{total} page{'s' if total != 1 else ''}", field="pdf_page_ranges")
    return data


def pdf_kwargs(opts: RenderOptions) -> dict[str, Any]:
    """``page.pdf`` arguments for ``opts``."""
    kwargs: dict[str, Any] = {
        "landscape": opts.pdf_landscape, "print_background": opts.pdf_print_background,
        "scale": opts.pdf_scale, "prefer_css_page_size": opts.pdf_prefer_css_page_size,
        "tagged": opts.pdf_tagged, "outline": opts.pdf_outline,
    }
    if opts.pdf_width or opts.pdf_height:
        kwargs["width"] = opts.pdf_width or "8.27in"  # A4's other side, when one is given
        kwargs["height"] = opts.pdf_height or "11.7in"
    else:
        kwargs["format"] = PAPER_FORMATS[opts.pdf_paper_format]
    header, footer = opts.pdf_header_template, opts.pdf_footer_template
    margins = {"top": opts.pdf_margin_top, "right": opts.pdf_margin_right,
               "bottom": opts.pdf_margin_bottom, "left": opts.pdf_margin_left}
    if header is not None or footer is not None:
        kwargs.update(display_header_footer=True, header_template=header or "<span></span>",
                      footer_template=footer or "<span></span>")
        if header and margins["top"] is None:
            margins["top"] = TEMPLATE_MARGIN
        if footer and margins["bottom"] is None:
            margins["bottom"] = TEMPLATE_MARGIN
    given = {side: value for side, value in margins.items() if value is not None}
    if given:
        kwargs["margin"] = given
    if opts.pdf_page_ranges:
        kwargs["page_ranges"] = opts.pdf_page_ranges
    return kwargs


def page_count(data: bytes) -> int:
    """The pages of a PDF Chromium wrote (its page objects are plain, not in streams)."""
    return len(_PAGE.findall(data))


def _pages_named(ranges: str) -> int:
    pages: set[int] = set()
    for part in ranges.split(","):
        low, _, high = part.partition("-")
        pages.update(range(int(low), int(high or low) + 1))
    return len(pages)
