"""Everything that touches Playwright: ``pool`` (slots, leases, warm contexts), ``generations``
(launching, recycling, crash recovery, bounded closes), ``chromium`` (flags, context options,
stealth, the process group), ``capture`` (one page, loaded and shot), ``steps`` (filtering,
banners, actions, redaction, local storage on that page)."""
