"""Open Graph images: a template filled in, rendered by the pool as HTML like any capture.

The templates are Jinja2 in an immutable sandbox with autoescaping: a title is text, never
markup, and a template (the operator's own, from ``OG_TEMPLATES_DIR``) cannot reach Python's
objects. The page is captured through :meth:`ScreenshotService.screenshot` with its HTML as the
source, so the cache, singleflight, the pool and the private-network guard all apply: the logo is
fetched by the browser through the guard, and the same parameters give the same HTML, hence the
same cache key and ETag.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from screenshotd import errors
from screenshotd.auth.callers import Caller
from screenshotd.core.og_templates import BUILTIN
from screenshotd.core.results import CaptureResult
from screenshotd.core.service import ScreenshotService
from screenshotd.params.capture import CaptureOptions
from screenshotd.params.og import OgOptions

log = logging.getLogger(__name__)


class OgTemplateError(ValueError):
    """An operator's template that cannot be used; the message names it."""


class OgImages:
    """The templates (built in, and the operator's), and rendering one as an image."""

    def __init__(self, service: ScreenshotService, templates_dir: str = "") -> None:
        self.service = service
        own: dict[str, str] = {}
        if templates_dir:
            folder = Path(templates_dir)
            if not folder.is_dir():
                raise OgTemplateError(f"{templates_dir} is not a directory")
            for path in sorted(folder.glob("*.html")):
                own[path.stem] = path.read_text(encoding="utf-8")
        self.env = ImmutableSandboxedEnvironment(
            loader=jinja2.DictLoader({**BUILTIN, **own}), autoescape=True,
            undefined=jinja2.StrictUndefined)
        self.names = sorted({*BUILTIN, *own})
        for name in own:  # a template that does not compile stops the start, named
            try:
                self.env.get_template(name)
            except jinja2.TemplateError as exc:
                raise OgTemplateError(f"{name}.html: {exc}") from None

    def html(self, og: OgOptions) -> str:
        if og.template not in self.names:
            raise errors.ValidationError(
                f"no template {og.template!r}; there are {', '.join(self.names)}",
                field="template")
        try:
            return self.env.get_template(og.template).render(og.context())
        except (SecurityError, jinja2.TemplateError) as exc:
            log.error("og-image template %s failed: %s", og.template, exc)
            raise errors.InternalError(
                f"the template {og.template!r} failed; the server log says why") from None

    def capture_options(self, og: OgOptions,
                        response_type: str = "image") -> CaptureOptions:
        """The capture behind ``og``; ``response_type`` is how it is answered (never part of
        the cache key)."""
        params: dict[str, object] = {
            "html": self.html(og), "width": og.width, "height": og.height,
            "format": og.format, "response_type": response_type,
            "wait_until": "load"}
        if og.cache_ttl is not None:
            params["cache_ttl"] = og.cache_ttl
        return CaptureOptions.parse(params, self.service.limits)

    async def render(self, og: OgOptions, caller: Caller,
                     opts: CaptureOptions | None = None) -> tuple[CaptureResult,
                                                                  CaptureOptions]:
        """The image, for ``caller``: its domain list applies to the logo (the page itself is
        the service's own HTML), the guard checks the logo's address before any browser work,
        and a render is charged like a capture's. ``opts``: :meth:`capture_options` of ``og``,
        when the caller has them already."""
        if og.logo_url is not None:
            caller.check_target(og.logo_url, "logo_url")
            try:
                await self.service.guard.check_url(og.logo_url)
            except errors.Blocked as exc:
                raise exc.naming("logo_url") from None
        opts = opts or self.capture_options(og)
        result = await self.service.screenshot(opts, replace(caller, domains=None))
        return result, opts
