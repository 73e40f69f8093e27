"""The structured parameters: ``cookies``, ``local_storage`` and ``actions``, each a small
pydantic model of its own that the capture options hold."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from screenshotd.params.names import snake_case
from screenshotd.params.values import Bool, Selector, parse_json

#: Most local_storage entries, and the longest key and value.
MAX_STORAGE_ENTRIES = 50
MAX_STORAGE_VALUE = 100_000

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


def storage_object(value: Any) -> Any:
    """``local_storage`` as one ``{key: value}`` object, whichever form it came in, so both
    forms give the same options (and cache key)."""
    value = parse_json(value)
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
    """One scripted step of ``actions``, run in order before the capture. The type may be
    given in camelCase (``waitForSelector``), as other APIs name it."""

    model_config = ConfigDict(extra="forbid")

    @pydantic.field_validator("type", mode="before")
    @classmethod
    def _snake_type(cls, value: Any) -> Any:
        return snake_case(value) if isinstance(value, str) else value

    type: Literal["wait_for_selector", "click", "type", "scroll", "wait", "hover", "press"]
    selector: Selector | None = None
    text: Annotated[str, Field(max_length=10_000)] | None = None
    key: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    y: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    ms: Annotated[int, Field(ge=0, le=10000)] | None = None
    #: For steps that wait for an element; at most the request's remaining time.
    timeout: Annotated[int, Field(ge=1, le=60000)] | None = None
    #: Milliseconds to wait before this step, after the one before it (in a video, the first
    #: step's counts from the start of the recording).
    delay: Annotated[int, Field(ge=0, le=60000)] | None = None

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
