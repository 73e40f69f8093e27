"""The JavaScript a capture runs in the page: style sheets, page size, scrolling through the
page for lazy content, and waiting for it to settle. Kept apart from the Python that runs them."""

ADD_STYLE_SHEET = """
css => {
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(css);
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
}
"""

# Run just before the shot. Anti-flicker snippets hide the page until an A/B-testing or
# analytics script arrives, and show it after a timeout of their own. A capture taken before
# then would be blank, so their known forms are undone: the style elements ChartBeat, VWO and
# Adobe Target insert, and Google Optimize's class. Nothing else the page hides is touched.
# Then the text caret is hidden (a blinking caret makes two shots of one page differ; unless
# caret=initial), with animations=disabled every animation is settled (finite CSS animations,
# transitions and Web Animations jump to their end, infinite ones are cancelled), and the web
# fonts and the images in the viewport (all but lazy ones not yet loaded, for a full page) are
# waited for, decoded, within the budget.
READY = """
async ([budget, hideCaret, stopAnimations, fullPage]) => {
  TIMERS
  for (const id of ['chartbeat-flicker-control-style', '_vis_opt_path_hides', 'at-body-style']) {
    const el = document.getElementById(id);
    if (el && el.tagName === 'STYLE') el.remove();
  }
  if (document.documentElement) document.documentElement.classList.remove('async-hide');
  if (stopAnimations && document.getAnimations) {
    for (const animation of document.getAnimations()) {
      const timing = animation.effect ? animation.effect.getComputedTiming() : null;
      try {
        if (timing && Number.isFinite(timing.endTime)) animation.finish(); else animation.cancel();
      } catch (e) { animation.cancel(); }
    }
  }
  if (hideCaret) try {
    const caret = new CSSStyleSheet();
    caret.replaceSync('*, *::before, *::after { caret-color: transparent !important; }');
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, caret];
  } catch (e) { /* a document without style sheets has no caret to hide */ }
  const waits = document.fonts ? [document.fonts.ready] : [];
  const shown = img => {
    if (fullPage) return img.loading !== 'lazy' || img.complete;
    const r = img.getBoundingClientRect();
    return r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth;
  };
  for (const img of document.images) {
    if (img.currentSrc && shown(img)) waits.push(img.decode().catch(() => {}));
  }
  await Promise.race([Promise.all(waits), new Promise(r => wait(r, budget))]);
}
"""

PAGE_SIZE = """
() => {
  const d = document.documentElement, b = document.body;
  return [Math.max(d.scrollWidth, b ? b.scrollWidth : 0, window.innerWidth),
          Math.max(d.scrollHeight, b ? b.scrollHeight : 0, window.innerHeight)];
}
"""

# Scroll down a viewport at a time (to at most the cap) so lazy content is requested, then back.
SCROLL_THROUGH = """
async ([cap, budget]) => {
  TIMERS
  const end = now() + budget;
  const next = () => new Promise(r => frame(() => wait(r, 40)));
  const step = Math.max(200, Math.floor(window.innerHeight * 0.9));
  const height = () => Math.min(cap, Math.max(document.documentElement.scrollHeight,
                                               document.body ? document.body.scrollHeight : 0));
  for (let y = step; y < height() && now() < end; y += step) {
    window.scrollTo(0, y);
    await next();
  }
  window.scrollTo(0, 0);
  await next();
}
"""

# Wait (bounded) for web fonts and for images still loading: those in the viewport, or all of
# them after a full-page scroll-through. Images that failed count as done.
SETTLE = """
async ([wholePage, budget]) => {
  TIMERS
  const timer = new Promise(r => wait(r, budget));
  const visible = img => {
    const r = img.getBoundingClientRect();
    return r.bottom > 0 && r.top < window.innerHeight && r.right > 0 && r.left < window.innerWidth;
  };
  const pending = Array.from(document.images)
    .filter(img => !img.complete && (wholePage || visible(img)))
    .map(img => new Promise(r => { img.addEventListener('load', r, {once: true});
                                    img.addEventListener('error', r, {once: true}); }));
  const fonts = document.fonts ? document.fonts.ready : Promise.resolve();
  await Promise.race([Promise.all([...pending, fonts]), timer]);
}
"""

# In every page of every context, before the page's own scripts: the browser's own timers are
# kept aside for the scripts here (``freeze_time`` replaces the page's with a paused clock, and
# these must still run), and requestAnimationFrame keeps a count of the callbacks the page has
# asked for and not yet had, so the stability wait can see whether JavaScript is animating.
# Nothing else about the calls changes.
FRAME_WATCH = """
(() => {
  const request = window.requestAnimationFrame, cancel = window.cancelAnimationFrame;
  if (!request || window.__screenshotdFrames) return;
  Object.defineProperty(window, '__screenshotdTimers', { value: Object.freeze({
    wait: window.setTimeout.bind(window), frame: request.bind(window),
    now: performance.now.bind(performance) }) });
  const pending = new Set();
  Object.defineProperty(window, '__screenshotdFrames', { value: () => pending.size });
  window.requestAnimationFrame = function requestAnimationFrame(callback) {
    const id = request.call(window, time => { pending.delete(id); callback(time); });
    pending.add(id);
    return id;
  };
  window.cancelAnimationFrame = function cancelAnimationFrame(id) {
    pending.delete(id);
    return cancel.call(window, id);
  };
})();
"""

# Whether the page is still moving: frames asked for (JavaScript animation) or finite CSS and
# Web Animations running. Quiet at once costs one call; otherwise it is polled every 16 ms until
# two samples in a row are quiet, or ``budget`` ms pass. ``endless``: infinite animations are
# running (they may or may not be on screen: pixels decide).
QUIET = """
async budget => {
  TIMERS
  const start = now();
  const frames = window.__screenshotdFrames || (() => 0);
  const moving = () => {
    let finite = false, endless = false;
    for (const a of (document.getAnimations ? document.getAnimations() : [])) {
      if (a.playState !== 'running') continue;
      const end = a.effect ? a.effect.getComputedTiming().endTime : Infinity;
      if (Number.isFinite(end)) finite = true; else endless = true;
    }
    return [frames() > 0 || finite, endless];
  };
  let [busy, endless] = moving();
  let calm = busy ? 0 : 2;
  while (calm < 2 && now() - start < budget) {
    await new Promise(r => wait(r, 16));
    [busy, endless] = moving();
    calm = busy ? 0 : calm + 1;
  }
  return { quiet: calm >= 2, endless, waited: now() - start };
}
"""


def with_timers(script: str) -> str:
    """``script`` with ``TIMERS`` replaced by ``wait``, ``frame`` and ``now``: the browser's own
    ``setTimeout``, ``requestAnimationFrame`` and ``performance.now``, which a paused page clock
    (``freeze_time``) does not stop."""
    return script.replace("TIMERS", _TIMERS)


_TIMERS = ("const { wait, frame, now } = window.__screenshotdTimers || { wait: (f, ms) => "
           "setTimeout(f, ms), frame: f => requestAnimationFrame(f), now: () => performance.now() };")
READY, SCROLL_THROUGH, SETTLE, QUIET = map(with_timers, (READY, SCROLL_THROUGH, SETTLE, QUIET))
