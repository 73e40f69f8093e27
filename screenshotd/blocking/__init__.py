"""Ads, trackers and consent banners: ``rules`` (one EasyList network rule), ``engine`` (the
indexed matcher), ``cosmetic`` (element hiding), ``lists`` (loading the lists, ``block_requests``, one
capture's request filter), ``banners`` (consent-platform rules and their page scripts),
``filterlists/`` (the built-in lists)."""
