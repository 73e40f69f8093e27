"""Cookie and consent banners: rules for the common consent platforms, and the page scripts
that apply them (``block_cookie_banners``).

Two steps, both in the page:

1. **Before the page's own scripts run**, a style sheet hides every known banner and overlay,
   so a banner that a consent script inserts late never shows, whenever it arrives.
2. **Just before the capture**, for each platform present, its "reject" or "necessary only"
   button is clicked when it has one, so the page goes on as it would for a visitor who
   refused. Then banners and overlays are removed, the classes some platforms put on
   ``<html>``/``<body>`` to lock scrolling are taken off, and when ``<html>`` or ``<body>``
   is still left with ``overflow: hidden``, scrolling is restored.

"Accept all" is never clicked. Hiding always reveals the page, so it is never the only way.

The rules are written here, from each platform's public markup: ids, classes and the
``data-`` attributes of its buttons. No third-party rule package is used: the ones published
(for example the Consent-O-Matic and DuckDuckGo autoconsent rule sets) drive multi-step
dialogs with waits and are built for a browser extension's runtime. A capture has a time
budget and one shot at the page, and hiding plus one click is what it needs. Generic rules
catch the banners of sites that built their own, by well-known ids and classes and by the
wording of their buttons.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Platform:
    name: str
    #: Elements that show the platform is on the page.
    detect: tuple[str, ...]
    #: Banners, dialogs and overlays to hide and then remove.
    hide: tuple[str, ...]
    #: "Reject all" / "necessary only" buttons, tried in order (the first present is clicked).
    reject: tuple[str, ...] = ()
    #: Classes the platform puts on <html> or <body> while its dialog is open.
    lock_classes: tuple[str, ...] = ()
    #: Where the buttons live when not in the document itself (a shadow root's host).
    shadow_host: str = ""


PLATFORMS: tuple[Platform, ...] = (
    Platform(
        "OneTrust",
        detect=("#onetrust-consent-sdk", "#onetrust-banner-sdk"),
        hide=("#onetrust-consent-sdk", "#onetrust-banner-sdk", ".onetrust-pc-dark-filter",
              "#onetrust-pc-sdk"),
        reject=("#onetrust-reject-all-handler", ".ot-pc-refuse-all-handler"),
    ),
    Platform(
        "Cookiebot",
        detect=("#CybotCookiebotDialog",),
        hide=("#CybotCookiebotDialog", "#CybotCookiebotDialogBodyUnderlay",
              "#CybotCookiebotDialogOverlay"),
        reject=("#CybotCookiebotDialogBodyButtonDecline",
                "#CybotCookiebotDialogBodyLevelButtonLevelOptinDeclineAll"),
        lock_classes=("CybotCookiebotDialogActive",),
    ),
    Platform(
        "Quantcast / InMobi Choice",
        detect=("#qc-cmp2-container", ".qc-cmp2-container", "#qcCmpUi"),
        hide=("#qc-cmp2-container", ".qc-cmp2-container", "#qcCmpUi", ".qc-cmp-ui-container"),
        reject=(".qc-cmp2-summary-buttons button[mode='secondary'][aria-label*='DISAGREE' i]",
                "button.qc-cmp2-reject-all"),
        lock_classes=("qc-cmp2-showing",),
    ),
    Platform(
        "TrustArc",
        detect=("#truste-consent-track", "#truste-consent-content", ".truste_box_overlay"),
        hide=("#truste-consent-track", "#truste-consent-content", ".truste_box_overlay",
              ".truste_overlay", "#consent_blackbar", ".truste_popframe"),
        reject=("#truste-consent-required", "#truste-consent-reject"),
    ),
    Platform(
        "Didomi",
        detect=("#didomi-host", "#didomi-popup", "#didomi-notice"),
        hide=("#didomi-host", "#didomi-popup", "#didomi-notice", ".didomi-popup-backdrop"),
        reject=("#didomi-notice-disagree-button", ".didomi-continue-without-agreeing"),
        lock_classes=("didomi-popup-open",),
    ),
    Platform(
        "Usercentrics",
        detect=("#usercentrics-root", "#usercentrics-cmp-ui", "#uc-banner-modal"),
        hide=("#usercentrics-root", "#usercentrics-cmp-ui", "#uc-banner-modal",
              "#uc-center-container"),
        reject=("[data-testid='uc-deny-all-button']", "#deny"),
        lock_classes=("overflowHidden",),
        shadow_host="#usercentrics-root",
    ),
    Platform(
        "Osano",
        detect=(".osano-cm-window", ".osano-cm-dialog"),
        hide=(".osano-cm-window", ".osano-cm-dialog", ".osano-cm-dialog__overlay"),
        reject=(".osano-cm-denyAll", ".osano-cm-button--type_deny"),
    ),
    Platform(
        "CookieYes",
        detect=(".cky-consent-container", "#cookie-law-info-bar", ".cky-modal"),
        hide=(".cky-consent-container", ".cky-overlay", ".cky-modal", "#cookie-law-info-bar",
              ".cli-modal-backdrop"),
        reject=(".cky-btn-reject", "#cookie_action_close_header_reject"),
    ),
    Platform(
        "Termly",
        detect=("#termly-code-snippet-support", "[data-tid='banner-decline']"),
        hide=("#termly-code-snippet-support", "[class^='termly-styles-root']",
              "[class*=' termly-styles-root']"),
        reject=("[data-tid='banner-decline']",),
    ),
    Platform(
        "iubenda",
        detect=("#iubenda-cs-banner",),
        hide=("#iubenda-cs-banner", ".iubenda-cs-overlay", "#iubenda-iframe"),
        reject=(".iubenda-cs-reject-btn",),
        lock_classes=("iubenda-cs-overlay-active",),
    ),
    Platform(
        "Complianz",
        detect=("#cmplz-cookiebanner-container", ".cmplz-cookiebanner"),
        hide=("#cmplz-cookiebanner-container", ".cmplz-cookiebanner", ".cmplz-soft-cookiewall"),
        reject=(".cmplz-btn.cmplz-deny", ".cmplz-deny"),
        lock_classes=("cmplz-soft-cookiewall-active",),
    ),
    Platform(
        "Sourcepoint",
        detect=("[id^='sp_message_container']", ".message-overlay"),
        hide=("[id^='sp_message_container']", ".sp_veil", ".message-overlay"),
        # Its buttons live in a cross-origin iframe a page script cannot reach: hidden only.
        lock_classes=("sp-message-open",),
    ),
    Platform(
        "Google Funding Choices",
        detect=(".fc-consent-root", ".fc-dialog-container"),
        hide=(".fc-consent-root", ".fc-dialog-overlay", ".fc-dialog-container"),
        reject=(".fc-cta-do-not-consent", "button.fc-cta-do-not-consent"),
    ),
    Platform(
        "Klaro",
        detect=(".klaro .cookie-notice", ".klaro .cookie-modal", "#klaro"),
        hide=(".klaro .cookie-notice", ".klaro .cookie-modal", ".klaro .cm-bg"),
        reject=(".klaro .cn-decline", ".klaro .cm-btn-decline", ".klaro .cm-btn-danger"),
    ),
    Platform(
        "Borlabs Cookie",
        detect=("#BorlabsCookieBox", "#BorlabsCookieWidget", "._brlbs-box-wrap"),
        hide=("#BorlabsCookieBox", "._brlbs-box-wrap", "._brlbs-bg-animation"),
        reject=("#BorlabsCookieBox [data-cookie-refuse]", "._brlbs-refuse-btn a",
                "._brlbs-refuse-btn", "a._brlbs-btn-accept-essential"),
        lock_classes=("borlabs-position-fix",),
    ),
    Platform(
        "Axeptio",
        detect=("#axeptio_overlay", ".axeptio_mount", "#axeptio_main_button"),
        hide=("#axeptio_overlay", ".axeptio_mount", ".axeptio-widget"),
        reject=("#axeptio_btn_dismiss", "button[aria-label*='refuse' i]"),
    ),
)

#: Banners sites build themselves, found by ids and classes in wide use, and by their words.
GENERIC_HIDE: tuple[str, ...] = (
    "#cookie-banner", ".cookie-banner", "#cookieBanner", "#cookie-notice", ".cookie-notice",
    "#cookie-consent", ".cookie-consent", "#cookieConsent", "#cookie-bar", ".cookie-bar",
    "#cookiebar", "#gdpr-banner", ".gdpr-banner", "#gdpr-consent", "#consent-banner",
    ".consent-banner", "#cookie-law-info-bar", ".cc-window", ".cc-banner", ".cc-revoke",
    "#cookie-policy-banner", "[aria-label='cookieconsent']", ".js-cookie-consent",
    "#cookies-banner", ".cookies-banner", "#cookie-popup", ".cookie-popup", "#cookiePopup",
    "#cookie-modal", ".cookie-modal", ".cookie-overlay", "#privacy-banner",
)

#: Words on a "reject" button, in the languages most consent banners use.
REJECT_WORDS: tuple[str, ...] = (
    "reject all", "reject", "decline all", "decline", "deny all", "deny", "refuse all",
    "refuse", "disagree", "do not consent", "don't accept", "do not accept",
    "necessary only", "only necessary", "essential only", "only essential",
    "use necessary cookies only", "necessary cookies only", "continue without accepting",
    "alle ablehnen", "ablehnen", "nur notwendige", "nur essenzielle", "tout refuser",
    "refuser", "continuer sans accepter", "rechazar todo", "rechazar", "rifiuta tutto",
    "rifiuta", "alles weigeren", "weigeren", "rejeitar", "odrzuć",
)
#: Words that name the banner itself, for the generic search.
CONSENT_WORDS: tuple[str, ...] = ("cookie", "consent", "gdpr", "privacy", "datenschutz",
                                  "tracking")


def hiding_css() -> str:
    """The style sheet of step 1: every platform's banners and overlays, and the generic ones."""
    selectors = [s for p in PLATFORMS for s in p.hide] + list(GENERIC_HIDE)
    return "".join(f"{s}{{display:none!important;visibility:hidden!important}}\n"
                   for s in selectors)


def _rules_json() -> str:
    return json.dumps({
        "platforms": [{"name": p.name, "detect": p.detect, "hide": p.hide, "reject": p.reject,
                       "lock": p.lock_classes, "shadow": p.shadow_host} for p in PLATFORMS],
        "generic": GENERIC_HIDE,
        "rejectWords": REJECT_WORDS,
        "consentWords": CONSENT_WORDS,
    })


#: Step 1, installed with ``add_init_script``: runs before the page's own scripts, in every
#: document of the page. The sheet is adopted once the document exists.
INIT_SCRIPT = """
(() => {
  const css = __SHEET__;
  const adopt = () => {
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
    } catch (e) {}
  };
  if (document.documentElement) adopt();
  else document.addEventListener('DOMContentLoaded', adopt, {once: true});
})();
""".replace("__SHEET__", json.dumps(hiding_css()))

#: Step 2, run once before the capture. Returns what it did, for the capture's report.
DISMISS_SCRIPT = """
(rules) => {
  const found = [], clicked = [];
  const roots = (p) => {
    const list = [document];
    if (p.shadow) {
      const host = document.querySelector(p.shadow);
      if (host && host.shadowRoot) list.push(host.shadowRoot);
    }
    return list;
  };
  const first = (list, selectors) => {
    for (const sel of selectors) {
      for (const root of list) {
        let el = null;
        try { el = root.querySelector(sel); } catch (e) { continue; }
        if (el) return el;
      }
    }
    return null;
  };
  const words = (el) => (el.innerText || el.textContent || el.getAttribute('aria-label') || '')
    .trim().toLowerCase().replace(/\\s+/g, ' ');
  const isReject = (el) => {
    const text = words(el);
    return text.length > 0 && text.length < 60 && rules.rejectWords.some(
      (w) => text === w || text.startsWith(w + ' ') || text.endsWith(' ' + w));
  };
  const removeAll = (selectors) => {
    for (const sel of selectors) {
      let els = [];
      try { els = document.querySelectorAll(sel); } catch (e) { continue; }
      els.forEach((el) => el.remove());
    }
  };
  const locks = new Set();
  for (const p of rules.platforms) {
    if (!first(roots(p), p.detect)) continue;
    found.push(p.name);
    const button = first(roots(p), p.reject);
    if (button) { button.click(); clicked.push(p.name); }
    else {
      // A platform whose reject button has no fixed id: its own buttons, by their words.
      const box = first(roots(p), p.hide);
      const candidate = box && Array.from(box.querySelectorAll('button, a, [role=button]'))
        .find(isReject);
      if (candidate) { candidate.click(); clicked.push(p.name); }
    }
    p.lock.forEach((c) => locks.add(c));
  }
  // Generic banners: known ids and classes, and fixed or sticky boxes that speak of cookies.
  const generic = [];
  for (const sel of rules.generic) {
    try { document.querySelectorAll(sel).forEach((el) => generic.push(el)); } catch (e) {}
  }
  const viewportArea = window.innerWidth * window.innerHeight;
  // Every element's computed style, up to a bound: about 10 ms for 2,500 elements here.
  const all = document.querySelectorAll('body *');
  for (let i = 0; i < all.length && i < 10000; i++) {
    const el = all[i];
    if (generic.length > 20) break;
    const style = getComputedStyle(el);
    if (style.position !== 'fixed' && style.position !== 'sticky') continue;
    const text = words(el).slice(0, 2000);
    if (!rules.consentWords.some((w) => text.includes(w))) continue;
    if (!Array.from(el.querySelectorAll('button, a, [role=button]')).length) continue;
    const rect = el.getBoundingClientRect();
    if (rect.width * rect.height > 0.9 * viewportArea && text.length > 1500) continue;
    generic.push(el);
  }
  if (generic.length) found.push('generic');
  for (const el of generic) {
    const button = Array.from(el.querySelectorAll('button, a, [role=button]')).find(isReject);
    if (button) { button.click(); clicked.push('generic'); break; }
  }
  // Hidden, then gone: banners, overlays and the platforms' scroll locks.
  for (const p of rules.platforms) removeAll(p.hide);
  generic.forEach((el) => el.isConnected && el.remove());
  for (const el of [document.documentElement, document.body]) {
    if (!el) continue;
    locks.forEach((c) => el.classList.remove(c));
  }
  let restored = false;
  if (found.length) {
    for (const el of [document.documentElement, document.body]) {
      if (!el) continue;
      const style = getComputedStyle(el);
      if (style.overflow === 'hidden' || style.overflowY === 'hidden') {
        el.style.setProperty('overflow', 'visible', 'important');
        el.style.setProperty('overflow-y', 'visible', 'important');
        restored = true;
      }
      if (style.position === 'fixed' && el === document.body) {
        el.style.setProperty('position', 'static', 'important');
      }
    }
  }
  return {found, clicked, restored};
}
"""

RULES_JSON = _rules_json()
