"""Chromium itself: the flags it is launched with, the options every context gets, the stealth
script, and finding and killing its process group. Stateless; :mod:`screenshotd.browser.pool` owns the
browser's life and uses these.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import Mapping
from typing import Any

#: Flags for a headless Chromium with no network of its own to call home on.
BASE_ARGS = (
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-breakpad",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-quic",
    # Warm pages wait out of sight; without these, Chromium throttles their timers and frames
    # and deprioritises their renderers, which slows the capture that takes one.
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--disable-gpu",
    "--hide-scrollbars",
    "--mute-audio",
    "--font-render-hinting=none",
    # WebRTC may not send UDP around the egress proxy. The full browser reads the first flag
    # (a preference); the headless shell only the second, with its value.
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    # Site isolation off: a warm page's first navigation then stays in its renderer instead of
    # swapping to a new site-locked one (about 20 ms of each capture's 70 here). Renderers are
    # never shared between browser contexts, and no context serves two callers (caller mode) or
    # two captures (context mode), so this only lets one caller's own pages share a process.
    "--disable-site-isolation-trials",
    # A hostile page's JavaScript may not take more than 1 GB of heap: past it the renderer
    # dies (502 RENDER_CRASHED) long before a slot's worth of pages could exhaust the machine.
    "--js-flags=--max-old-space-size=1024",
    # Each frame is drawn only once every compositor stage (raster included) has finished,
    # instead of pipelined over the next frames: a screenshot then takes 16 ms instead of 30
    # for a 1280x800 viewport, and never shows tiles still to be rastered. Animated pages
    # still run at 60 frames a second (benchmarks/RESULTS.md).
    "--run-all-compositor-stages-before-draw",
    # No back-forward cache and no new document host per navigation (RenderDocument): nothing
    # here goes back, and page mode's reset navigates each kept page to about:blank and on,
    # which with them cost a quarter of its throughput (benchmarks/RESULTS.md).
    "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication,"
    "IsolateOrigins,site-per-process,BackForwardCache,RenderDocument",
)

#: Playwright's default flags the pool does not want: with popup blocking off, a page could
#: open thousands of windows without a click.
IGNORED_DEFAULT_ARGS = ["--disable-popup-blocking"]

#: What a context may request besides http(s) and ws(s), which go through the egress proxy.
#: Everything else (``file:``, ``ftp:``, ``chrome:``, ``filesystem:`` ...) is refused.
NON_WEB_SCHEME = re.compile(r"^(?!(?:https?|wss?|data|blob|about):)", re.IGNORECASE)

#: Options every context gets, warm or made to order.
BASE_CONTEXT_OPTIONS: dict[str, Any] = {
    "viewport": {"width": 1280, "height": 800},
    "service_workers": "block",
    "accept_downloads": False,
}


def launch_args(*extra: str) -> list[str]:
    """The command-line flags for a pool's Chromium: :data:`BASE_ARGS`, ``extra``, and
    ``--no-sandbox`` when running as root (Chromium's sandbox refuses to run as root)."""
    args = [*BASE_ARGS, *extra]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    return args


def context_kwargs(options: Mapping[str, Any]) -> dict[str, Any]:
    """Playwright ``new_context`` arguments for context-level capture options."""
    kwargs = dict(BASE_CONTEXT_OPTIONS)
    kwargs.update({k: v for k, v in options.items() if k not in ("stealth", "upstream")})
    return kwargs


def headful_user_agent(version: str) -> str:
    """The user agent a desktop Chrome of this version sends, without "HeadlessChrome"."""
    return (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{version} Safari/537.36"
    )


def find_browser_pid(marker: str) -> int | None:
    """The pid of the Chromium launched with ``marker``: the group leader that carries it."""
    needle = marker.encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                if needle not in fh.read():
                    continue
            pid = int(entry.name)
            if os.getpgid(pid) == pid:
                return pid
        except (OSError, ProcessLookupError):
            continue
    return None


#: Best-effort removal of the usual headless tells, run before any page script.
STEALTH_SCRIPT = """
(() => {
  const define = (obj, prop, value) => {
    try { Object.defineProperty(obj, prop, { get: () => value, configurable: true }); } catch (e) {}
  };
  define(Navigator.prototype, 'webdriver', false);
  if (!navigator.languages || navigator.languages.length === 0) {
    define(Navigator.prototype, 'languages', ['en-US', 'en']);
  }
  if (navigator.plugins.length === 0) {
    const fake = [{ name: 'PDF Viewer', filename: 'internal-pdf-viewer' },
                  { name: 'Chrome PDF Viewer', filename: 'internal-pdf-viewer' }];
    define(Navigator.prototype, 'plugins', fake);
  }
  if (!window.chrome) { window.chrome = { runtime: {}, app: { isInstalled: false } }; }
  const query = window.navigator.permissions && window.navigator.permissions.query;
  if (query) {
    window.navigator.permissions.query = (p) => p && p.name === 'notifications'
      ? Promise.resolve({ state: Notification.permission, onchange: null })
      : query.call(window.navigator.permissions, p);
  }
})();
"""


def kill_process_group(pid: int | None) -> None:
    """SIGKILL the process group led by ``pid``, if anything of it is left."""
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
