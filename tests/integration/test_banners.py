"""block_cookie_banners: one page per consent platform, written here after each platform's
public markup (its ids, classes and button attributes), plus generic banners.

Every page is long, locks scrolling the way consent dialogs do, covers itself with a dark
overlay and a magenta banner, and has "reject" and "accept" buttons whose handlers record the
choice and take the banner away, as the real scripts do. A status square at (1200, 20) is
repainted by the page itself: green when ``<html>`` and ``<body>`` can scroll and "accept" was
never clicked (and, where the platform has one, "reject" was), red otherwise.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from tests.support.checks import decode
from tests.support.servers import Running
from tests.support.site import Site

pytestmark = pytest.mark.asyncio

MAGENTA = (255, 0, 255)
GREEN = (0, 255, 0)
STATUS = (1200, 20)
MARKER = (20, 20)  # the page's own green marker, darkened while an overlay covers it

BANNER_STYLE = ("position:fixed;left:0;right:0;bottom:0;height:200px;background:#f0f;"
                "z-index:100000")
OVERLAY_STYLE = "position:fixed;inset:0;background:rgba(0,0,0,.6);z-index:99999"


def buttons(reject: str, accept: str) -> str:
    """Reject and accept buttons, given as opening tags (their attributes are the platform's).
    Their labels say nothing, so only the platform's own rule can tell them apart."""
    return f"{reject}Option 1</{_tag(reject)}>{accept}Option 2</{_tag(accept)}>"


def _tag(opening: str) -> str:
    return opening[1:].split(" ", 1)[0].rstrip(">")


#: platform -> (markup, the lock put on <html>/<body>, whether it offers a reject button)
PLATFORMS: dict[str, tuple[str, str, bool]] = {
    "onetrust": (
        f'<div id="onetrust-consent-sdk"><div class="onetrust-pc-dark-filter" '
        f'style="{OVERLAY_STYLE}"></div><div id="onetrust-banner-sdk" style="{BANNER_STYLE}">'
        + buttons('<button id="onetrust-reject-all-handler" data-choice="reject">',
                  '<button id="onetrust-accept-btn-handler" data-choice="accept">')
        + "</div></div>", "body", True),
    "cookiebot": (
        f'<div id="CybotCookiebotDialogBodyUnderlay" style="{OVERLAY_STYLE}"></div>'
        f'<div id="CybotCookiebotDialog" style="{BANNER_STYLE}">'
        + buttons('<button id="CybotCookiebotDialogBodyButtonDecline" data-choice="reject">',
                  '<button id="CybotCookiebotDialogBodyLevelButtonLevelOptinAllowAll" '
                  'data-choice="accept">')
        + "</div>", "body", True),
    "quantcast": (
        f'<div id="qc-cmp2-container"><div style="{OVERLAY_STYLE}"></div>'
        f'<div class="qc-cmp2-summary-buttons" style="{BANNER_STYLE}">'
        '<button mode="secondary" aria-label="DISAGREE" data-choice="reject">Option 1</button>'
        '<button mode="primary" aria-label="AGREE" data-choice="accept">Option 2</button>'
        "</div></div>", "html", True),
    "trustarc": (
        f'<div class="truste_box_overlay" style="{OVERLAY_STYLE}"></div>'
        f'<div id="truste-consent-track" style="{BANNER_STYLE}">'
        + buttons('<button id="truste-consent-required" data-choice="reject">',
                  '<button id="truste-consent-button" data-choice="accept">')
        + "</div>", "body", True),
    "didomi": (
        f'<div id="didomi-host"><div class="didomi-popup-backdrop" style="{OVERLAY_STYLE}">'
        f'</div><div id="didomi-notice" style="{BANNER_STYLE}">'
        + buttons('<button id="didomi-notice-disagree-button" data-choice="reject">',
                  '<button id="didomi-notice-agree-button" data-choice="accept">')
        + "</div></div>", "body-class:didomi-popup-open", True),
    "usercentrics": ("SHADOW", "body", True),
    "osano": (
        f'<div class="osano-cm-window"><div class="osano-cm-dialog__overlay" '
        f'style="{OVERLAY_STYLE}"></div><div class="osano-cm-dialog" style="{BANNER_STYLE}">'
        + buttons('<button class="osano-cm-denyAll osano-cm-button" data-choice="reject">',
                  '<button class="osano-cm-accept-all osano-cm-button" data-choice="accept">')
        + "</div></div>", "body", True),
    "cookieyes": (
        f'<div class="cky-overlay" style="{OVERLAY_STYLE}"></div>'
        f'<div class="cky-consent-container" style="{BANNER_STYLE}">'
        + buttons('<button class="cky-btn cky-btn-reject" data-choice="reject">',
                  '<button class="cky-btn cky-btn-accept" data-choice="accept">')
        + "</div>", "body", True),
    "termly": (
        f'<div id="termly-code-snippet-support"><div style="{OVERLAY_STYLE}"></div>'
        f'<div class="termly-styles-root-a1b2c3" style="{BANNER_STYLE}">'
        + buttons('<button data-tid="banner-decline" data-choice="reject">',
                  '<button data-tid="banner-accept" data-choice="accept">')
        + "</div></div>", "body", True),
    "iubenda": (
        f'<div id="iubenda-cs-banner" style="{BANNER_STYLE}">'
        + buttons('<button class="iubenda-cs-reject-btn" data-choice="reject">',
                  '<button class="iubenda-cs-accept-btn" data-choice="accept">')
        + f'</div><div class="iubenda-cs-overlay" style="{OVERLAY_STYLE}"></div>',
        "html-class:iubenda-cs-overlay-active", True),
    "complianz": (
        f'<div id="cmplz-cookiebanner-container"><div class="cmplz-soft-cookiewall" '
        f'style="{OVERLAY_STYLE}"></div><div class="cmplz-cookiebanner" style="{BANNER_STYLE}">'
        + buttons('<button class="cmplz-btn cmplz-deny" data-choice="reject">',
                  '<button class="cmplz-btn cmplz-accept" data-choice="accept">')
        + "</div></div>", "body", True),
    "sourcepoint": (
        # The real buttons sit in a cross-origin frame; the page can only be uncovered.
        f'<div id="sp_message_container_1234" style="{BANNER_STYLE}"><iframe '
        'style="width:100%;height:100%;border:0" srcdoc="<body style=background:#f0f>">'
        f'</iframe></div><div class="sp_veil" style="{OVERLAY_STYLE}"></div>',
        "html-class:sp-message-open", False),
    "funding-choices": (
        f'<div class="fc-consent-root"><div class="fc-dialog-overlay" style="{OVERLAY_STYLE}">'
        f'</div><div class="fc-dialog-container" style="{BANNER_STYLE}">'
        + buttons('<button class="fc-button fc-cta-do-not-consent" data-choice="reject">',
                  '<button class="fc-button fc-cta-consent" data-choice="accept">')
        + "</div></div>", "body", True),
    "klaro": (
        f'<div class="klaro"><div class="cm-bg" style="{OVERLAY_STYLE}"></div>'
        f'<div class="cookie-notice" style="{BANNER_STYLE}">'
        + buttons('<button class="cm-btn cn-decline" data-choice="reject">',
                  '<button class="cm-btn cm-btn-success" data-choice="accept">')
        + "</div></div>", "body", True),
    "borlabs": (
        f'<div id="BorlabsCookieBox"><div class="_brlbs-bg-animation" style="{OVERLAY_STYLE}">'
        f'</div><div class="_brlbs-box-wrap" style="{BANNER_STYLE}">'
        '<p class="_brlbs-refuse-btn"><a href="#" data-cookie-refuse data-choice="reject">'
        'Option 1</a></p><a class="_brlbs-btn-accept-all" href="#" '
        'data-choice="accept">Option 2</a></div></div>', "body", True),
    "axeptio": (
        f'<div id="axeptio_overlay" style="{OVERLAY_STYLE}"><div class="axeptio_mount" '
        f'style="{BANNER_STYLE}">'
        + buttons('<button id="axeptio_btn_dismiss" data-choice="reject">',
                  '<button id="axeptio_btn_acceptAll" data-choice="accept">')
        + "</div></div>", "body", True),
    # A site's own banner: no known id, found by being fixed and speaking of cookies.
    "generic": (
        f'<div id="site-privacy-notice" style="{BANNER_STYLE}">We use cookies to improve '
        'your experience. <button data-choice="accept">Accept all</button>'
        '<button data-choice="reject">Reject all</button>'
        + f'</div><div style="{OVERLAY_STYLE}" class="privacy-dim"></div>', "body", True),
    # A banner with nothing but "accept": it is hidden, never accepted.
    "accept-only": (
        f'<div class="cookie-banner" style="{BANNER_STYLE}">This site uses cookies. '
        '<button data-choice="accept">Accept all</button></div>', "body", False),
}

USERCENTRICS = """
<div id="usercentrics-root"></div>
<script>
  const host = document.getElementById('usercentrics-root');
  const root = host.attachShadow({mode: 'open'});
  root.innerHTML = '<div style="OVERLAY"></div><div style="BANNER">' +
    '<button data-testid="uc-deny-all-button" data-choice="reject">Option 1</button>' +
    '<button data-testid="uc-accept-all-button" data-choice="accept">Option 2</button></div>';
  root.querySelectorAll('[data-choice]').forEach(wire);
</script>
""".replace("OVERLAY", OVERLAY_STYLE).replace("BANNER", BANNER_STYLE)


def consent_page(name: str) -> str:
    markup, lock, has_reject = PLATFORMS[name]
    if lock.startswith("body-class:"):
        lock_css = f".{lock.split(':')[1]}{{overflow:hidden}}"
        body_attr, html_attr = f' class="{lock.split(":")[1]}"', ""
    elif lock.startswith("html-class:"):
        lock_css = f".{lock.split(':')[1]}{{overflow:hidden}}"
        body_attr, html_attr = "", f' class="{lock.split(":")[1]}"'
    else:
        lock_css = f"{lock}{{overflow:hidden}}"
        body_attr = html_attr = ""
    need = "window.__consent === 'reject'" if has_reject else "window.__consent === undefined"
    script = f"""
<script>
  function wire(el) {{
    el.addEventListener('click', (e) => {{
      e.preventDefault();
      window.__consent = el.dataset.choice;
      // What the platforms do on a choice: their dialog goes, the page scrolls again.
      document.querySelectorAll('[data-banner]').forEach((b) => b.remove());
    }});
  }}
  const paint = () => {{
    const scrolls = getComputedStyle(document.documentElement).overflow !== 'hidden'
      && getComputedStyle(document.body).overflow !== 'hidden';
    const ok = scrolls && ({need});
    document.getElementById('status').style.background = ok ? 'rgb(0,255,0)' : 'rgb(255,0,0)';
  }};
  setInterval(paint, 20);
  document.addEventListener('DOMContentLoaded', () => {{
    document.querySelectorAll('[data-choice]').forEach(wire);
    paint();
  }});
</script>"""
    banner = USERCENTRICS if markup == "SHADOW" else markup
    return (
        f"<!doctype html><html{html_attr}><head><meta charset=utf-8><title>{name}</title>"
        f"<style>html,body{{margin:0;background:#fff}}{lock_css}</style>{script}</head>"
        f"<body{body_attr}>"
        '<div id="marker" style="position:absolute;left:0;top:0;width:100px;height:100px;'
        'background:rgb(0,255,0)"></div>'
        '<div id="status" style="position:absolute;left:1180px;top:0;width:100px;'
        'height:100px;background:rgb(255,0,0)"></div>'
        '<div style="height:4000px"></div>'
        f'<div data-banner>{banner}</div></body></html>'
    )


async def capture(server: Running, site: Site, name: str, **params: object):
    response = await server.client.get("/screenshot", params={
        "url": site.url("/serve?html=" + quote(consent_page(name))), "delay": 150,
        "cache": "false", "response_type": "base64", **params})
    assert response.status_code == 200, response.text
    return decode(base64.b64decode(response.json()["data"])).convert("RGB")


def has_magenta(image) -> bool:
    small = image.resize((320, 200))
    return any(colour == MAGENTA for _, colour in small.getcolors(1 << 16))


@pytest.mark.parametrize("name", sorted(PLATFORMS))
async def test_the_banner_is_gone_and_the_page_scrolls(server: Running, site: Site, name: str):
    image = await capture(server, site, name, block_cookie_banners="true")
    assert not has_magenta(image), f"{name}: the banner is still in the picture"
    assert image.getpixel(MARKER) == GREEN, f"{name}: an overlay still covers the page"
    assert image.getpixel(STATUS) == GREEN, (
        f"{name}: the page cannot scroll, or the wrong button was clicked")


@pytest.mark.parametrize("name", ["onetrust", "usercentrics", "generic"])
async def test_without_the_option_the_banner_shows(server: Running, site: Site, name: str):
    image = await capture(server, site, name)
    assert has_magenta(image)
    assert image.getpixel(MARKER) != GREEN  # under the overlay


async def test_a_page_without_a_banner_keeps_its_own_overflow(server: Running, site: Site):
    """Scrolling is only restored where a consent dialog was found: an app that scrolls inside
    its own panes keeps ``overflow: hidden``."""
    html = ("<!doctype html><html><head><style>html,body{margin:0;overflow:hidden}</style>"
            "<script>setInterval(() => { document.body.style.background = "
            "getComputedStyle(document.body).overflow === 'hidden' ? 'rgb(0,255,0)' "
            ": 'rgb(255,0,0)'; }, 20);</script></head><body></body></html>")
    response = await server.client.get("/screenshot", params={
        "url": site.url("/serve?html=" + quote(html)), "block_cookie_banners": "true",
        "delay": 150, "cache": "false"})
    assert decode(response.content).convert("RGB").getpixel((10, 10)) == GREEN
