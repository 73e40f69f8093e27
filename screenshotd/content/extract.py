"""What a page says: its main content (``extract_content``) and its metadata (``metadata``).

Both read the rendered page's HTML, as Chromium had it just before the capture (after its
scripts, the consent banner and the actions), with BeautifulSoup over lxml. Both are plain
synchronous functions; the service runs them in a worker thread.

**Content** is the page's main text, without its furniture:

1. drop what is never content: scripts, styles, templates, forms' controls, hidden elements,
   consent banners, what ``redact`` masked, and the page's own navigation, site header,
   footer and asides;
2. find the main block: a ``<main>`` (or ``role=main``) or ``<article>`` with real text, else
   the element whose paragraphs hold the most text, links discounted;
3. make every link and image absolute (against ``<base href>`` and the page's final URL);
4. write it as ``markdown`` (markdownify, ATX headings), ``html`` (the cleaned block, with
   only content attributes kept) or ``text``. When the block does not contain the page's
   title, the title leads the markdown (as a ``#`` heading) and the text.

**Metadata**: ``title``, ``description``, ``og_title``, ``og_description``, ``og_image``,
``favicon``, ``canonical``, ``lang`` and ``http_status``. URLs are absolute; ``favicon`` falls
back to ``/favicon.ico`` on the page's origin. ``title`` is the title of the page's content, as a
reader would name it: the document's declared title (JSON-LD ``headline``, Dublin Core,
Open Graph, Twitter, in that order), else ``<title>`` with a trailing site name cut off.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup, Comment, Tag
from markdownify import MarkdownConverter

from screenshotd.content.marks import DROP_ATTR

#: Never content, wherever it is.
_NEVER = frozenset({"script", "style", "noscript", "template", "link", "meta", "svg", "canvas", "iframe",
          "object", "embed", "button", "input", "select", "textarea", "dialog"})
#: Page furniture: dropped outside the main block (a main block's own header keeps its title).
_FURNITURE = ("nav", "header", "footer", "aside")
_FURNITURE_ROLES = ("navigation", "banner", "contentinfo", "complementary", "search", "dialog",
                    "alertdialog")
_BLOCKS = ("div", "section", "td", "article", "main", "body")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
#: A title's separators before a site name: "Story - Site", "Story | Site", "Story » Site".
_TITLE_SEPARATOR = re.compile(r"\s+[|\-\u2013\u2014\\/>\u00bb\u00b7]\s+")


def parse(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "lxml")


# --------------------------------------------------------------------------- content


def extract_page(html: str, page_url: str | None, http_status: int | None,
                 content_formats: list[str], metadata: bool
                 ) -> tuple[dict[str, str], dict[str, Any] | None]:
    """Content in each of ``content_formats``, and metadata (when asked), from the page's HTML.
    Extraction changes the parsed page, so each format after the first parses it again."""
    soup = parse(html)
    meta = extract_metadata(soup, page_url, http_status) if metadata else None
    contents: dict[str, str] = {}
    for index, content_format in enumerate(content_formats):
        page = soup if index == 0 else parse(html)
        contents[content_format] = extract_content(page, page_url, content_format,
                                                   meta["title"] if meta is not None else None)
    return contents, meta


def extract_content(page: str | BeautifulSoup, base_url: str | None,
                    content_format: str = "markdown", title: str | None = None) -> str:
    """The page's main content as ``markdown``, ``html`` or ``text``. A parsed ``page`` is
    changed in place."""
    soup = parse(page) if isinstance(page, str) else page
    base = _base_url(soup, base_url)
    if title is None:
        title = _title(soup)
    _drop_never(soup)
    block = _main_block(soup)
    _absolutize(block, base)
    _keep_safe_attributes(block)
    if content_format == "html":
        return str(block).strip()
    # The title leads, unless the block already says it (its own headline).
    lead = title if title and _squash(title) not in _squash(block.get_text(" ")) else None
    if content_format == "text":
        text = _text(block)
        return f"{lead}\n{text}" if lead else text
    markdown = _Markdown(heading_style="ATX", bullets="-", escape_underscores=False,
                         escape_asterisks=False).convert_soup(block)
    markdown = _tidy(markdown)
    return f"# {lead}\n\n{markdown}" if lead else markdown


def _squash(text: str) -> str:
    return " ".join(text.split()).casefold()


class _Markdown(MarkdownConverter):
    """markdownify, with images that have no source dropped rather than written empty."""

    def convert_img(self, el: Tag, text: str, parent_tags: Any = None, **kwargs: Any) -> str:
        if not el.get("src"):
            return ""
        base: Any = super()  # markdownify's type stub does not declare convert_img
        return str(base.convert_img(el, text, parent_tags=parent_tags, **kwargs))


def _drop_never(soup: BeautifulSoup) -> None:
    """One pass over the tree: what is never content goes, with everything inside it."""
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    for tag in soup.find_all(True):
        if tag.decomposed:
            continue
        attrs = tag.attrs
        if tag.name in _NEVER or (attrs and (
                DROP_ATTR in attrs or "hidden" in attrs
                or attrs.get("aria-hidden") == "true" or _hidden_style(attrs.get("style")))):
            tag.decompose()


def _hidden_style(style: Any) -> bool:
    if not isinstance(style, str) or ("none" not in style and "hidden" not in style):
        return False
    style = style.replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style


def _main_block(soup: BeautifulSoup) -> Tag:
    """``main``/``article`` with real text, else the densest block; furniture outside it goes."""
    body = soup.body or soup
    candidates = [t for t in soup.find_all(["main", "article"]) + soup.find_all(role="main")
                  if _text_length(t) >= 200]
    if candidates:
        # The one with the most text; but an article inside a main that holds nearly all of
        # the main's text is the tighter answer.
        block = max(candidates, key=_text_length)
        inner = [c for c in candidates if _within(c, block)
                 and _text_length(c) >= 0.9 * _text_length(block)]
        if inner:
            block = max(inner, key=lambda c: sum(1 for _ in c.parents))
    else:
        block = _densest(body) or body
    _drop_furniture(body, keep=block)
    return block


def _drop_furniture(root: Tag, keep: Tag) -> None:
    for tag in root.find_all(_FURNITURE) + root.find_all(role=_FURNITURE_ROLES):
        if tag.decomposed or tag is keep or _within(keep, tag):
            continue  # the block itself, or furniture that holds it
        if tag.name == "header" and tag.find("h1") and _within(tag, keep):
            continue  # the article's own header: its title
        tag.decompose()


def _within(tag: Tag, ancestor: Tag) -> bool:
    """Whether ``tag`` is inside ``ancestor`` (by identity: bs4's ``==`` compares markup)."""
    return any(parent is ancestor for parent in tag.parents)


def _densest(body: Tag) -> Tag | None:
    """The block whose paragraphs hold the most text, links discounted."""
    scores: dict[int, float] = {}
    tags: dict[int, Tag] = {}
    for para in body.find_all(["p", "pre", "blockquote", "li"]):
        text = para.get_text(" ", strip=True)
        if len(text) < 25:
            continue
        links = sum(len(a.get_text(" ", strip=True)) for a in para.find_all("a"))
        score = max(0.0, len(text) - 2.0 * links)
        parent = para.parent
        for weight in (1.0, 0.5):
            while parent is not None and parent.name not in _BLOCKS:
                parent = parent.parent
            if parent is None:
                break
            scores[id(parent)] = scores.get(id(parent), 0.0) + score * weight
            tags[id(parent)] = parent
            parent = parent.parent
    if not scores:
        return None
    return tags[max(scores, key=lambda key: scores[key])]


def _text_length(tag: Tag) -> int:
    return len(tag.get_text(" ", strip=True))


def _text_attr(tag: Any, name: str) -> str | None:
    """A single-valued attribute as text (bs4 gives multi-valued ones, like ``rel``, as lists)."""
    value = tag.get(name)
    return value if isinstance(value, str) else None


def _base_url(soup: BeautifulSoup, page_url: str | None) -> str | None:
    base = soup.find("base", href=True)
    href = _text_attr(base, "href") if base is not None else None
    if href is not None:
        return urljoin(page_url or "", href.strip())
    return page_url


def _absolutize(root: Tag, base: str | None) -> None:
    for tag in root.find_all(["a", "img", "source", "video", "audio"]):
        for attr in ("href", "src"):
            value = tag.get(attr)
            if not isinstance(value, str):
                continue
            value = value.strip()
            if value.lower().startswith(("javascript:", "vbscript:")):
                del tag[attr]
            elif base and not value.startswith(("data:", "#", "mailto:", "tel:")):
                tag[attr] = urljoin(base, value)
        if tag.has_attr("srcset"):
            del tag["srcset"]
        lazy = tag.get("data-src")
        if tag.name == "img" and not tag.get("src") and isinstance(lazy, str) and base:
            tag["src"] = urljoin(base, lazy.strip())


#: What the cleaned HTML keeps of each element: what the content needs, no scripts or styles.
_SAFE_ATTRIBUTES = frozenset({"href", "src", "alt", "title", "colspan", "rowspan", "lang", "dir",
                              "datetime", "cite", "start", "reversed", "scope", "headers"})


def _keep_safe_attributes(root: Tag) -> None:
    for tag in [root, *root.find_all(True)]:
        if tag.attrs:
            tag.attrs = {k: v for k, v in tag.attrs.items() if k in _SAFE_ATTRIBUTES}


#: Elements that start a line of their own in plain text; inline ones (``b``, ``a``, ``span``)
#: stay within their line.
_LINE_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "dd", "details", "div", "dl", "dt",
    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tr", "ul",
})


def _text(block: Tag) -> str:
    """The block as plain text: a line per paragraph, heading, list item or row (``block`` is
    changed in place)."""
    for tag in block.find_all(True):
        if tag.name == "br":
            tag.replace_with("\n")
        elif tag.name in _LINE_BLOCKS:
            tag.insert_before("\n")
            tag.insert_after("\n")
        elif tag.name in ("td", "th"):
            tag.insert_after(" ")
    lines = []
    for line in block.get_text("").splitlines():
        line = _SPACES.sub(" ", line).strip()
        if line:
            lines.append(line)
    return "\n".join(lines)


def _tidy(markdown: str) -> str:
    lines = [line.rstrip() for line in markdown.splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


# --------------------------------------------------------------------------- metadata


def extract_metadata(page: str | BeautifulSoup, page_url: str | None,
                     http_status: int | None) -> dict[str, Any]:
    """The page's metadata; every field is present, None when the page does not say."""
    soup = parse(page) if isinstance(page, str) else page
    base = _base_url(soup, page_url)

    def absolute(value: str | None) -> str | None:
        if not value:
            return None
        value = value.strip()
        if base is None or value.startswith("data:"):
            return value or None
        return urljoin(base, value)

    html_tag = soup.find("html")
    lang = html_tag.get("lang") if isinstance(html_tag, Tag) else None
    canonical = _link(soup, "canonical")
    favicon = _link(soup, "icon") or _link(soup, "shortcut icon") or _link(soup, "apple-touch-icon")
    if favicon is None and page_url and urlsplit(page_url).scheme in ("http", "https"):
        favicon = "/favicon.ico"
    return {
        "title": _title(soup),
        "description": _meta(soup, "description") or _meta(soup, "og:description"),
        "og_title": _meta(soup, "og:title"),
        "og_description": _meta(soup, "og:description"),
        "og_image": absolute(_meta(soup, "og:image") or _meta(soup, "og:image:url")),
        "favicon": absolute(favicon),
        "canonical": absolute(canonical),
        "lang": lang.strip() if isinstance(lang, str) and lang.strip() else None,
        "http_status": http_status,
    }


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = _SPACES.sub(" ", text.replace("\n", " ")).strip()
    return text or None


def _meta(soup: BeautifulSoup, name: str) -> str | None:
    """A ``<meta>`` by ``property`` or ``name`` (case-insensitive), first non-empty one."""
    wanted = name.lower()
    for tag in soup.find_all("meta"):
        keys = (tag.get("property"), tag.get("name"), tag.get("itemprop"))
        for key in keys:
            if isinstance(key, str) and wanted in key.lower().split():
                value = _clean(_text_attr(tag, "content"))
                if value:
                    return value
    return None


def _link(soup: BeautifulSoup, rel: str) -> str | None:
    wanted = rel.split()
    for tag in soup.find_all("link", href=True):
        rels = [r.lower() for r in (tag.get("rel") or [])]
        if rels == wanted or (len(wanted) == 1 and wanted[0] in rels):
            href = (_text_attr(tag, "href") or "").strip()
            if href:
                return href
    return None


def _json_ld_title(soup: BeautifulSoup, document_title: str | None) -> str | None:
    """An article's ``headline`` or ``name`` from its JSON-LD: the one nearer the document's
    ``<title>`` when both are there."""
    for script in soup.find_all("script", type="application/ld+json"):
        text = (script.string or "").strip()
        text = text.removeprefix("<![CDATA[").removesuffix("]]>").strip()
        try:
            items = list(_ld_items(json.loads(text)))
        except (ValueError, TypeError, RecursionError):  # the page's own JSON, maybe hostile
            continue
        for item in items:
            kind = item.get("@type")
            kinds = kind if isinstance(kind, list) else [kind]
            if not any(isinstance(k, str) and (k.endswith("Article") or k in (
                    "BlogPosting", "Report", "WebPage", "Recipe")) for k in kinds):
                continue
            found = [_clean(v) for v in (item.get("headline"), item.get("name"))
                     if isinstance(v, str) and _clean(v)]
            if found:
                return max(found, key=lambda v: _overlap(v, document_title))
    return None


def _overlap(a: str | None, b: str | None) -> float:
    """Shared words over all words: how alike two titles are."""
    if not a or not b:
        return 0.0
    words_a, words_b = set(a.lower().split()), set(b.lower().split())
    return len(words_a & words_b) / len(words_a | words_b)


def _ld_items(data: Any) -> Iterable[dict[str, Any]]:
    if isinstance(data, list):
        for entry in data:
            yield from _ld_items(entry)
    elif isinstance(data, dict):
        yield data
        if isinstance(data.get("@graph"), list):
            yield from _ld_items(data["@graph"])


def _title(soup: BeautifulSoup) -> str | None:
    title_tag = soup.find("title")
    document_title = _clean(title_tag.get_text()) if title_tag is not None else None
    headings = {_clean(h.get_text(" ")) for h in soup.find_all(["h1", "h2"], limit=20)}
    declared = (_json_ld_title(soup, document_title) or _meta(soup, "dc:title")
                or _meta(soup, "dcterm:title") or _meta(soup, "og:title")
                or _meta(soup, "weibo:article:title") or _meta(soup, "title")
                or _meta(soup, "parsely-title") or _meta(soup, "twitter:title"))
    if declared:
        return declared
    if not document_title:
        return next((h for h in headings if h), None)
    return _without_site_name(document_title, headings)


def _without_site_name(title: str, headings: set[str | None]) -> str:
    """``Story - Site`` → ``Story``, unless what is left is too short to be a title and is no
    heading of the page either (``Mozilla - Wikipedia`` stays whole)."""
    separators = list(_TITLE_SEPARATOR.finditer(title))
    if not separators:
        return title
    candidate = title[: separators[-1].start()].strip()
    if len(candidate.split()) >= 3 or candidate in headings:
        return candidate
    return title
