"""``/og-image``: the parameters of an Open Graph image, validated before anything renders.

``title`` (required, at most 150 characters), ``description`` (at most 300), ``theme``
(``light`` or ``dark``), ``bg_color`` and ``text_color`` (``#rgb`` or ``#rrggbb``), ``logo_url``
(http or https), ``template`` (``basic``, ``article``, ``minimal``, or one of the operator's),
``width`` and ``height`` (1200 × 630 by default), ``format`` (``png``, ``jpeg``, ``webp``),
``redirect`` (302 to the image; the default for GET unless ``response_type`` is given),
``response_type`` (``image``, ``json``, ``base64``; ``json`` by default with ``redirect=false``,
as the seed API answers) and ``cache_ttl``. Names may be given in camelCase.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from screenshotd.params.names import snake_keys, translate
from screenshotd.params.values import MAX_URL_LENGTH, Bool, check_url

_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_TEMPLATE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def _hex_colour(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str) or not _HEX.fullmatch(value.strip()):
        raise PydanticCustomError("colour", "must be a colour as #rgb or #rrggbb")
    return value.strip().lower()


Colour = Annotated[str | None, pydantic.BeforeValidator(_hex_colour)]


class OgOptions(BaseModel):
    """An Open Graph image request; build with :meth:`parse`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Annotated[str, Field(min_length=1, max_length=150)]
    description: Annotated[str, Field(max_length=300)] | None = None
    theme: Literal["light", "dark"] = "light"
    bg_color: Colour = None
    text_color: Colour = None
    logo_url: Annotated[str, Field(max_length=MAX_URL_LENGTH)] | None = None
    template: str = "basic"
    width: Annotated[int, Field(ge=200, le=2400)] = 1200
    height: Annotated[int, Field(ge=100, le=1260)] = 630
    format: Literal["png", "jpeg", "webp"] = "png"
    redirect: Bool | None = None
    response_type: Literal["image", "json", "base64"] | None = None
    cache_ttl: Annotated[int, Field(ge=60, le=2_592_000)] | None = None

    @pydantic.field_validator("logo_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)

    @pydantic.field_validator("template")
    @classmethod
    def _template_name(cls, value: str) -> str:
        if not _TEMPLATE.fullmatch(value):
            raise PydanticCustomError("template", "must be a template's name (a-z, 0-9, _ -)")
        return value

    @pydantic.field_validator("format", mode="before")
    @classmethod
    def _jpg(cls, value: Any) -> Any:
        return "jpeg" if isinstance(value, str) and value.lower() == "jpg" else value

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> OgOptions:
        """Validate a query or JSON body; a 400 names the field."""
        given = {k: v for k, v in params.items() if k != "api_key"}
        given = snake_keys(given, set(cls.model_fields))
        try:
            return cls.model_validate(given)
        except pydantic.ValidationError as exc:
            error = translate(exc, frozenset(cls.model_fields))
            if error.code == "INVALID_URL":  # the one URL here is the logo's
                error.field = "logo_url"
                error.message = f"logo_url: {error.message}"
            raise error from None

    def context(self) -> dict[str, Any]:
        """What a template sees: the text, the colours (the theme's unless given), the logo."""
        dark = self.theme == "dark"
        return {
            "title": self.title, "description": self.description or "",
            "theme": self.theme,
            "bg_color": self.bg_color or ("#0f172a" if dark else "#ffffff"),
            "text_color": self.text_color or ("#f8fafc" if dark else "#0f172a"),
            "muted_color": "#94a3b8" if dark else "#475569",
            "accent_color": "#38bdf8" if dark else "#2563eb",
            "logo_url": self.logo_url, "width": self.width, "height": self.height,
        }


def answer(og: OgOptions, *, get: bool) -> Literal["redirect", "image", "json", "base64"]:
    """How an OG image request is answered.

    ``redirect=true`` redirects; ``redirect=false`` answers ``response_type``, JSON when it is
    not given (the seed API's ``{"image_url": …}``). With neither given, GET redirects (an
    ``og:image`` tag points at the URL) and POST answers the bytes. A ``response_type`` given
    alone is answered as asked, on GET too.
    """
    if og.redirect:
        return "redirect"
    if og.response_type is not None:
        return og.response_type
    if og.redirect is False:
        return "json"
    return "redirect" if get else "image"
