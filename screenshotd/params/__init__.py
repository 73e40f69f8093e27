"""The request models: what a caller may ask for, parsed and validated once, before any
browser work. ``capture`` (CaptureOptions and the cache key), ``names`` (aliases, unknown names,
errors naming the field), ``values`` (how one value is read), ``parts`` (cookies, local storage,
actions), ``devices`` (the presets), ``diff`` (the diff's request and pixelmatch's options),
``batch`` (batch bodies). Imports nothing of screenshotd but the error tree."""
