"""What the capture marks in a page for extraction to leave out, with no parser to import: the
browser steps use these before the page's HTML is read, and :mod:`screenshotd.content.extract`
(BeautifulSoup, markdownify: slow to import) honours them, only when content is asked for."""

from __future__ import annotations

from screenshotd.blocking import banners

#: What the capture marks in the page for extraction to leave out: what ``redact`` masked, the
#: boxes it drew, and consent banners (see :data:`MARK_SCRIPT`).
DROP_ATTR = "data-screenshotd-drop"

#: Run in the page before its HTML is read: marks consent banners (every platform's and the
#: generic ones) with :data:`DROP_ATTR`, with the browser's own selector engine.
MARK_SCRIPT = """
(selectors) => {
  for (const sel of selectors) {
    let found = [];
    try { found = document.querySelectorAll(sel); } catch (e) { continue; }
    found.forEach((el) => el.setAttribute('MARK', ''));
  }
}
""".replace("MARK", DROP_ATTR)

BANNER_SELECTORS: tuple[str, ...] = tuple(
    [s for platform in banners.PLATFORMS for s in platform.hide] + list(banners.GENERIC_HIDE))
