"""Everything that touches Playwright (no other package imports it; ``make lint`` checks):
``pool`` (slots and leases), ``stock`` (its warm contexts and kept pages: refill, reset,
closes), ``kept`` (which caller a kept page belongs to, and which goes past the bound),
``contexts`` (opening one, with the guard's channel
and scheme route), ``lease`` (one capture's slot, and Playwright's errors translated),
``reset`` (caller and page modes: a kept page put back as a fresh one), ``generations`` (launching,
recycling, crash recovery, bounded closes), ``chromium`` (flags, context options, stealth, the
process group), ``capture`` (one page, loaded and shot), ``scripts`` (the JavaScript it runs in
the page), ``steps`` (filtering, banners, actions, redaction, local storage on that page)."""
