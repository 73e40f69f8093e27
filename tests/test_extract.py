"""Content and metadata extraction: its rules on small pages, and the whole corpus's source.

The corpus checks here read each page's ``source.html`` directly (no browser), so they are fast;
``tests/integration/test_corpus.py`` runs the same checks on the pages as Chromium renders them.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from functools import cache

import pytest
from bs4 import BeautifulSoup

from screenshotd.content.extract import DROP_ATTR, extract_content, extract_metadata, extract_page
from tests.support.pages import CORPUS

# --------------------------------------------------------------------------- corpus helpers


def _norm(text: str | None) -> str:
    text = html_lib.unescape(text or "")
    for fancy, plain in (("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'), ("\u201d", '"'),
                         ("\xa0", " ")):
        text = text.replace(fancy, plain)
    return re.sub(r"\s+", " ", text).strip().casefold()


def same_title(got: str | None, expected: str) -> bool:
    """Titles match when equal after entity decoding, typographic quotes, whitespace and case."""
    return _norm(got) == _norm(expected)


@cache
def _source(name: str) -> tuple[str | None, list[str]]:
    """A corpus page's first heading, and the code lines of its scripts and styles."""
    soup = BeautifulSoup((CORPUS / name / "source.html").read_bytes(), "lxml")
    heading = soup.find(["h1", "h2", "h3"])
    code = []
    for tag in soup.find_all(["script", "style"]):
        if tag.get("type") in ("application/ld+json", "text/template"):
            continue
        for line in (tag.string or "").splitlines():
            line = line.strip()
            if len(line) >= 25 and any(c in line for c in "{};=("):
                code.append(line)
    return (heading.get_text(" ", strip=True) if heading else None), code


def check_markdown(markdown: str, title: str | None, name: str) -> str | None:
    """What is wrong with a page's markdown, or None: it must be non-empty, contain the page's
    title or its first heading, and carry no line of the page's scripts or styles."""
    if not markdown.strip():
        return f"{name}: empty markdown"
    heading, code = _source(name)
    flat = _norm(markdown)
    wanted = [t for t in (title, heading) if t and _norm(t)]
    if wanted and not any(_norm(t) in flat for t in wanted):
        return f"{name}: neither the title {title!r} nor the heading {heading!r} is in it"
    leaked = [line for line in code if line in markdown]
    if leaked:
        return f"{name}: script or style text in the markdown: {leaked[0][:80]!r}"
    return None


def corpus_pages() -> list[str]:
    pages = sorted(p.parent.name for p in CORPUS.glob("*/source.html"))
    assert len(pages) == 130, f"expected the 130-page corpus at {CORPUS}, found {len(pages)}"
    return pages


def test_corpus_titles_and_markdown_from_the_source():
    matches: dict[str, bool] = {}
    problems = []
    for name in corpus_pages():
        source = (CORPUS / name / "source.html").read_text("utf-8", errors="replace")
        contents, meta = extract_page(source, f"https://corpus.example/{name}/", 200,
                                      ["markdown"], True)
        content = contents.get("markdown")
        assert content is not None and meta is not None
        expected = json.loads((CORPUS / name / "expected-metadata.json").read_text())
        if expected.get("title"):
            matches[name] = same_title(meta["title"], expected["title"])
        problem = check_markdown(content, meta["title"], name)
        if problem:
            problems.append(problem)
    rate = sum(matches.values()) / len(matches)
    print(f"\ncorpus source: metadata title matches on {sum(matches.values())} of {len(matches)} "
          f"pages ({rate:.1%}); misses: {sorted(n for n, ok in matches.items() if not ok)}")
    assert not problems, "\n".join(problems)
    assert rate >= 0.90


# --------------------------------------------------------------------------- content rules


def test_main_beats_furniture_and_links_become_absolute():
    page = """<html><body><nav>Menu</nav><header><p>Site</p></header>
      <div id="c"><main><h2>Part</h2><p>""" + "Words of the story. " * 20 + """
      <a href="../up">up</a> <a href="javascript:alert(1)">js</a> <img data-src="lazy.png"></p>
      </main></div><footer>Bottom</footer></body></html>"""
    markdown = extract_content(page, "https://example.org/a/b/page.html")
    assert "Menu" not in markdown and "Bottom" not in markdown and "Site" not in markdown
    assert "[up](https://example.org/a/up)" in markdown
    assert "[js]" not in markdown and "js" in markdown  # the link goes, its text stays
    assert "![](https://example.org/a/b/lazy.png)" in markdown


def test_base_href_decides_relative_links():
    page = ('<html><head><base href="https://cdn.example/root/"></head><body><article><p>'
            + "x " * 150 + '<a href="p.html">p</a></p></article></body></html>')
    assert "(https://cdn.example/root/p.html)" in extract_content(page, "https://site.example/")


def test_densest_block_without_main_or_article():
    page = ("<html><body><div class='side'><p>" + "<a href='/x'>link</a> " * 30 + "</p></div>"
            "<div class='story'><p>" + "Real sentences of the story go here. " * 10 + "</p><p>"
            + "And more of them follow. " * 10 + "</p></div></body></html>")
    text = extract_content(page, None, "text")
    assert "Real sentences" in text and "link" not in text


def test_hidden_marked_and_never_content_elements_are_dropped():
    page = (f"<html><body><article><p>{'Visible words. ' * 20}</p>"
            "<p hidden>hidden attr</p><p style='display: none'>display none</p>"
            "<p aria-hidden='true'>aria hidden</p>"
            f"<p {DROP_ATTR}>redacted</p><form><input value='typed'><button>Send</button></form>"
            "<noscript>enable js</noscript></article></body></html>")
    text = extract_content(page, None, "text")
    for gone in ("hidden attr", "display none", "aria hidden", "redacted", "Send", "enable js"):
        assert gone not in text
    assert "Visible words." in text


def test_html_format_keeps_only_safe_attributes():
    page = ("<html><body><article><p onclick='steal()' style='color:red' class='x'>"
            + "Story text. " * 20 + "<a href='/a' onmouseover='x()'>a</a>"
            "<img src='/i.png' onerror='x()' alt='pic'></p></article></body></html>")
    cleaned = extract_content(page, "https://s.example/", "html")
    assert "onclick" not in cleaned and "onerror" not in cleaned and "onmouseover" not in cleaned
    assert "style=" not in cleaned and "class=" not in cleaned
    assert 'href="https://s.example/a"' in cleaned and 'alt="pic"' in cleaned


def test_the_title_leads_unless_the_content_says_it():
    page = ("<html><head><title>The story title - Site</title></head><body><article><p>"
            + "Body text. " * 30 + "</p></article></body></html>")
    assert extract_content(page, None).startswith("# The story title\n\nBody text.")
    assert extract_content(page, None, "text").startswith("The story title\nBody text.")
    with_headline = page.replace("<article>", "<article><h2>The story title</h2>")
    assert extract_content(with_headline, None).startswith("## The story title\n\nBody")


# --------------------------------------------------------------------------- metadata rules


@pytest.mark.parametrize("head, title", [
    ("<title>Only a document title</title>", "Only a document title"),
    ("<title>A long story title - Site Name</title>", "A long story title"),
    ("<title>Mozilla - Wikipedia</title>", "Mozilla - Wikipedia"),  # too short to cut
    ("<title>Mozilla - Wikipedia</title><h1>Mozilla</h1>", "Mozilla"),  # ... unless a heading
    ('<title>Doc</title><meta property="og:title" content="From OG">', "From OG"),
    ('<meta property="og:title" content="OG"><meta name="dc:title" content="DC">', "DC"),
    ('<title>Doc title words</title><script type="application/ld+json">{"@type": "NewsArticle",'
     ' "headline": "Doc title words here", "name": "Publisher"}</script>', "Doc title words here"),
    ('<meta name="parsely-title" content="Parsely">', "Parsely"),
    ("", None),
])
def test_title_rules(head, title):
    assert extract_metadata(f"<html><head>{head}</head><body></body></html>", None,
                            None)["title"] == title


def test_metadata_urls_are_absolute_and_favicon_falls_back():
    page = ('<html lang="fr"><head><meta property="og:image" content="img/c.png">'
            '<link rel="canonical" href="/canon"></head></html>')
    meta = extract_metadata(page, "https://x.example/dir/page", 201)
    assert meta["og_image"] == "https://x.example/dir/img/c.png"
    assert meta["canonical"] == "https://x.example/canon"
    assert meta["favicon"] == "https://x.example/favicon.ico"
    assert meta["lang"] == "fr" and meta["http_status"] == 201
    assert extract_metadata(page, None, None)["favicon"] is None  # raw html: no origin
    shortcut = '<html><head><link rel="shortcut icon" href="/f.ico"></head></html>'
    assert extract_metadata(shortcut, "https://x.example/", 200)["favicon"] == \
        "https://x.example/f.ico"


def test_one_parse_gives_every_format_asked_for():
    source = ("<html><head><title>Tea</title></head><body><nav>menu</nav><article><h1>Tea</h1>"
              "<p>Green <b>tea</b> is <a href='/more'>good</a>.</p></article></body></html>")
    contents, meta = extract_page(source, "https://tea.example/", 200,
                                  ["markdown", "html", "text"], True)
    assert meta is not None and meta["title"] == "Tea"
    assert contents["markdown"].startswith("# Tea") and "**tea**" in contents["markdown"]
    assert "<b>tea</b>" in contents["html"] and 'href="https://tea.example/more"' in contents["html"]
    assert "Green tea is good." in contents["text"] and "<" not in contents["text"]
