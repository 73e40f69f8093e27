"""The request models: what a caller may ask for, parsed and validated once, before any
browser work. ``capture`` (the keyed RenderOptions, the cache key, and CaptureOptions, which
adds ``delivery``: how the answer is given), ``names`` (aliases, unknown names,
errors naming the field), ``values`` (how one value is read), ``parts`` (cookies, local storage,
actions), ``devices`` (the presets), ``diff`` (the diff's request and pixelmatch's options),
``batch`` (batch bodies). Imports nothing of screenshotd but the error tree."""
