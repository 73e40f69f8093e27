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
# fonts are waited for, within the budget.
READY = """
async ([budget, hideCaret, stopAnimations]) => {
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
  if (document.fonts) {
    await Promise.race([document.fonts.ready, new Promise(r => setTimeout(r, budget))]);
  }
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
  const end = Date.now() + budget;
  const frame = () => new Promise(r => requestAnimationFrame(() => setTimeout(r, 40)));
  const step = Math.max(200, Math.floor(window.innerHeight * 0.9));
  const height = () => Math.min(cap, Math.max(document.documentElement.scrollHeight,
                                               document.body ? document.body.scrollHeight : 0));
  for (let y = step; y < height() && Date.now() < end; y += step) {
    window.scrollTo(0, y);
    await frame();
  }
  window.scrollTo(0, 0);
  await frame();
}
"""

# Wait (bounded) for web fonts and for images still loading: those in the viewport, or all of
# them after a full-page scroll-through. Images that failed count as done.
SETTLE = """
async ([wholePage, budget]) => {
  const timer = new Promise(r => setTimeout(r, budget));
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
