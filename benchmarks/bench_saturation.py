"""Throughput at saturation: the service against what Chromium itself can do, in one run.

The contenders capture the same pages (viewport PNG, 1280x800, wait for load) at the same
concurrency, and every capture has a URL of its own (a unique query string), so no capture is
shared by singleflight or answered from a cache. Every one launches the same Chromium build (the
one the service picks), except ``naive_full``, which says so in its name.

- **service**: ``screenshotd serve`` over HTTP with its default isolation (caller mode) and no
  keys, so every capture is one caller's; **service_callers**: the same with three API keys,
  the captures handed to the three callers in turn (interleaved); **service_context** and
  **service_page**: ``BROWSER_ISOLATION=context`` and ``page``. ``BROWSER_MAX_CONCURRENT`` is the
  concurrency. After each round the benchmark checks that the server's miss counter rose by
  exactly the captures it counted and that none coalesced: every one was rendered. Each
  service's rounds report the contexts it made in them (``contexts_made``: a renderer's start
  each; with kept pages, none once each caller has its pages).
- **naive**: the script people write first: one Chromium with Playwright's default flags, and
  per capture a new context, a new page, goto, screenshot, close; again as **naive_full** on
  Debian's full Chromium (its new headless mode), which is what the service itself ran before.
- **reuse**: one Chromium keeping one open page per concurrent worker, reused for every capture
  (no isolation between captures: the ceiling, not a fair alternative).
- **browserless**: microlink's ``browserless`` library (Node.js, Puppeteer), a context per
  capture, as its users call it (``browserless/run.js``).
- **batch**: ``screenshotd batch`` on a list of the same URLs, the whole command timed, against
  **sequential** (a script that launches Chromium, keeps one context and opens a page per URL)
  and **shot_scraper** (``shot-scraper multi`` on the same list, through
  ``shot_scraper_same_build.py``, which gives it the same build).

``screenshotd shot`` of one page against a one-page script is ``bench_shot.py``.

Each contender other than the services runs in a process of its own, so its CPU is that process
tree's (user + system, children included). The rounds alternate between contenders. Reported:
captures/s, the ratios, CPU seconds per capture, and for the service (caller and context modes)
the latency of captures sent back to back by one client against the latency of captures sent
with the server idle.

    python benchmarks/bench_saturation.py [--rounds 2] [--captures 24] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import (
    CORPUS,
    ROOT,
    children,
    local_site,
    machine,
    percentile,
    screenshotd_process,
    screenshotd_server,
)

SMALL = "/pages/basic"
#: Ten corpus pages: the first ten in name order (reproducible, and mixed in weight).
CORPUS_PAGES = 10


# --------------------------------------------------------------------------- measuring CPU


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and every live descendant, each with its reaped
    children's: a process that ended during a round is counted in its parent's."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        fields = stats.get(current)
        if fields is not None:
            total += sum(int(fields[i]) for i in (11, 12, 13, 14)) / tick
        todo.extend(children.get(current, ()))
    return total


# --------------------------------------------------------------------------- the pages


def page_urls(site: str, kind: str, count: int, tag: str) -> list[str]:
    """``count`` unique URLs: the small page, or the ten corpus pages in turn."""
    if kind == "small":
        paths = [SMALL]
    else:
        names = sorted(p.parent.name for p in CORPUS.glob("*/source.html"))[:CORPUS_PAGES]
        paths = [f"/corpus/{name}/source.html" for name in names]
    return [f"{site}{paths[i % len(paths)]}?u={tag}-{i}" for i in range(count)]


# --------------------------------------------------------------------------- the service


#: The API keys of the three callers of ``service_callers``.
CALLER_KEYS = ("caller-one", "caller-two", "caller-three")

#: The services and their settings besides the concurrency.
SERVICES: dict[str, dict[str, str]] = {
    "service": {},
    "service_callers": {"API_KEYS": ",".join(CALLER_KEYS)},
    "service_context": {"BROWSER_ISOLATION": "context"},
    "service_page": {"BROWSER_ISOLATION": "page"},
}


async def run_service(base: str, urls: list[str], concurrency: int,
                      keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """Capture every URL through the server, ``concurrency`` at a time (the n-th URL as the
    caller of ``keys[n % len(keys)]``, when keys are given); raise unless each was rendered
    (the misses rose by len(urls), nothing coalesced) and answered 200."""
    auth = {"X-API-Key": keys[0]} if keys else {}
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        health = (await client.get("/health", headers=auth)).json()
        before, made = health["cache"], health["pool"]["contexts_made"]
        gate = asyncio.Semaphore(concurrency)
        statuses: list[int] = []

        async def one(n: int, url: str) -> None:
            async with gate:
                headers = {"X-API-Key": keys[n % len(keys)]} if keys else None
                response = await client.get("/screenshot", params={"url": url},
                                            headers=headers)
                statuses.append(response.status_code)

        started = time.perf_counter()
        await asyncio.gather(*(one(n, url) for n, url in enumerate(urls)))
        elapsed = time.perf_counter() - started
        health = (await client.get("/health", headers=auth)).json()
        after, made = health["cache"], health["pool"]["contexts_made"] - made
    rendered = after["captures"] - before["captures"]
    if statuses.count(200) != len(urls) or after["misses"] - before["misses"] != len(urls) \
            or after["coalesced"] != before["coalesced"] or rendered != len(urls):
        raise RuntimeError(f"the service did not render every capture: {statuses.count(200)} "
                           f"answered 200, {rendered} rendered of {len(urls)}, "
                           f"{after['coalesced'] - before['coalesced']} coalesced")
    return {"seconds": elapsed, "ok": len(urls), "contexts_made": made}


async def latencies(base: str, urls: list[str], pause: float) -> list[float]:
    """One client, one capture at a time, ``pause`` seconds between an answer and the next
    request (0: back to back). Milliseconds per capture."""
    times = []
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        for url in urls:
            if pause:
                await asyncio.sleep(pause)
            started = time.perf_counter()
            response = await client.get("/screenshot", params={"url": url})
            response.raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return times


# --------------------------------------------------------------------------- scripts
# Run as ``--role naive|reuse|sequential`` in a process of their own; they print one JSON line.


async def role_main(role: str, urls: list[str], concurrency: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    from screenshotd.settings import Settings

    chromium = "/usr/bin/chromium" if role == "naive_full" else Settings().resolve_chromium()
    launched = time.perf_counter()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium)
        ok = 0
        started = time.perf_counter()
        cpu0 = tree_cpu(os.getpid())
        if role in ("naive", "naive_full"):
            gate = asyncio.Semaphore(concurrency)

            async def naive(url: str) -> None:
                nonlocal ok
                async with gate:
                    context = await browser.new_context(viewport={"width": 1280, "height": 800})
                    try:
                        page = await context.new_page()
                        await page.goto(url, wait_until="load", timeout=30000)
                        await page.screenshot(type="png")
                        ok += 1
                    finally:
                        await context.close()

            await asyncio.gather(*(naive(url) for url in urls))
        elif role == "reuse":
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            pages = [await context.new_page() for _ in range(concurrency)]
            queue = list(reversed(urls))
            started, cpu0 = time.perf_counter(), tree_cpu(os.getpid())

            async def worker(page: Any) -> None:
                nonlocal ok
                while queue:
                    await page.goto(queue.pop(), wait_until="load", timeout=30000)
                    await page.screenshot(type="png")
                    ok += 1

            await asyncio.gather(*(worker(page) for page in pages))
        else:  # sequential, the whole script: launch, one context, a page per URL
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            started, cpu0 = launched, 0.0
            for url in urls:
                page = await context.new_page()
                await page.goto(url, wait_until="load", timeout=30000)
                await page.screenshot(type="png")
                await page.close()
                ok += 1
        elapsed = time.perf_counter() - started
        cpu = tree_cpu(os.getpid()) - cpu0
        await browser.close()
    return {"seconds": elapsed, "ok": ok, "cpu": cpu}


def run_role(role: str, urls: list[str], concurrency: int) -> dict[str, Any]:
    """A script in its own process: its timing, and its process tree's CPU over the captures
    (the sequential script: over the whole run, launch included, as ``batch`` is measured)."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(urls))
    try:
        out = children.run([sys.executable, __file__, "--role", role, "--urls", handle.name,
                            "--concurrency", str(concurrency)], capture_output=True,
                           text=True, check=True, timeout=900).stdout
    finally:
        Path(handle.name).unlink()
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def whole_command(args: list[str], out: Path, expected: int, what: str,
                  env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``args`` to the end: its wall time, its process tree's CPU, and the PNGs it wrote
    into ``out`` (raise unless there are ``expected`` of them)."""
    started = time.perf_counter()
    proc = children.popen(args, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    cpu = 0.0
    while proc.poll() is None:
        cpu = max(cpu, tree_cpu(proc.pid))
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    written = len(list(out.glob("*.png")))
    if proc.returncode or written != expected:
        raise RuntimeError(f"{what} wrote {written} of {expected}")
    return {"seconds": elapsed, "ok": written, "cpu": cpu}


def run_batch(urls: list[str], concurrency: int) -> dict[str, Any]:
    """``screenshotd batch`` on the URLs, the whole command: wall time and the tree's CPU."""
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "urls.txt"
        listing.write_text("\n".join(urls))
        return whole_command(
            [sys.executable, "-m", "screenshotd", "batch", str(listing), "-d", f"{tmp}/out",
             "--concurrency", str(concurrency)], Path(tmp) / "out", len(urls),
            "screenshotd batch", {"ALLOW_PRIVATE_HOSTS": "127.0.0.1", "LOG_LEVEL": "warning"})


BROWSERLESS = Path(__file__).with_name("browserless")


def run_browserless(urls: list[str], concurrency: int) -> dict[str, Any]:
    """microlink's ``browserless`` library (``browserless/run.js``, Node.js) on the service's
    Chromium build: its own timing of the captures, and its process tree's CPU over the whole
    run (its launch included, a few hundredths of a second a capture). Installed on first use
    with npm, without install scripts (``browserless/package.json`` says why)."""
    from screenshotd.settings import Settings

    if not (BROWSERLESS / "node_modules" / "browserless").is_dir():
        children.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                     cwd=BROWSERLESS, env={**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"},
                     check=True, capture_output=True, timeout=600)
    chromium = Settings().resolve_chromium() or ""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(urls))
    try:
        proc = children.popen(["node", "run.js", handle.name, str(concurrency), chromium],
                              cwd=BROWSERLESS, stdout=subprocess.PIPE, text=True)
        cpu = 0.0
        while proc.poll() is None:
            cpu = max(cpu, tree_cpu(proc.pid))
            time.sleep(0.05)
        out = proc.stdout.read() if proc.stdout else ""
    finally:
        Path(handle.name).unlink()
    if proc.returncode:
        raise RuntimeError(f"browserless failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["cpu"] = cpu
    return result


def run_shot_scraper(urls: list[str]) -> dict[str, Any]:
    """``shot-scraper multi`` on the URLs (1280x800 PNGs), the whole command, on the service's
    Chromium build (``shot_scraper_same_build.py``): wall time and the tree's CPU."""
    from screenshotd.settings import Settings

    chromium = Settings().resolve_chromium() or ""
    with tempfile.TemporaryDirectory() as tmp:
        shots = Path(tmp) / "shots.yml"
        shots.write_text("".join(
            f"- url: {url}\n  output: {tmp}/out/{n}.png\n  width: 1280\n  height: 800\n"
            for n, url in enumerate(urls)))
        (Path(tmp) / "out").mkdir()
        return whole_command(
            [sys.executable, str(Path(__file__).with_name("shot_scraper_same_build.py")),
             "multi", str(shots), "--silent"], Path(tmp) / "out", len(urls),
            "shot-scraper multi", {"SAME_CHROMIUM": chromium})


# --------------------------------------------------------------------------- the run


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = statistics.median(r["seconds"] for r in runs)
    count = runs[0]["ok"]
    return {"captures_per_s": round(count / seconds, 2),
            "cpu_s_per_capture": round(statistics.median(r["cpu"] / r["ok"] for r in runs), 3),
            "rounds": [round(r["seconds"], 2) for r in runs],
            # the service's: contexts it made during the rounds (a renderer's start each)
            **({"contexts_made": [r["contexts_made"] for r in runs]}
               if "contexts_made" in runs[0] else {})}


def keys_of(name: str) -> tuple[str, ...]:
    return CALLER_KEYS if name == "service_callers" else ()


async def main(rounds: int, captures: int, concurrencies: list[int], kinds: list[str],
               batch_urls: int) -> dict[str, Any]:
    results: dict[str, Any] = {"captures_per_round": captures, "table": []}
    with local_site() as site:
        for kind in kinds:
            for conc in concurrencies:
                env = {"BROWSER_MAX_CONCURRENT": str(conc), "BROWSER_QUEUE_TIMEOUT_MS": "300000",
                       "BROWSER_QUEUE_SIZE": "1000"}
                runs: dict[str, list[dict[str, Any]]] = {
                    name: [] for name in (*SERVICES, "naive", "naive_full", "reuse",
                                          "browserless")}
                with contextlib.ExitStack() as stack:
                    servers = {name: stack.enter_context(screenshotd_process(**env, **extra))
                               for name, extra in SERVICES.items()}
                    for name, (url, pid) in servers.items():
                        await run_service(url, page_urls(site, kind, conc * 2, f"warm{pid}"),
                                          conc, keys_of(name))
                    for n in range(rounds):
                        tag = f"{kind}-{conc}-{n}"
                        for name, (url, pid) in servers.items():
                            cpu0 = tree_cpu(pid)
                            result = await run_service(
                                url, page_urls(site, kind, captures, f"{tag}-{name}"), conc,
                                keys_of(name))
                            result["cpu"] = tree_cpu(pid) - cpu0
                            runs[name].append(result)
                        for role in ("naive", "naive_full", "reuse"):
                            runs[role].append(run_role(
                                role, page_urls(site, kind, captures, f"{tag}-{role}"), conc))
                        runs["browserless"].append(run_browserless(
                            page_urls(site, kind, captures, f"{tag}-browserless"), conc))
                row = {"pages": kind, "concurrency": conc,
                       **{name: summarise(r) for name, r in runs.items()}}
                for name in SERVICES:
                    for base in ("naive", "reuse", "browserless"):
                        row[f"{name}_vs_{base}"] = round(row[name]["captures_per_s"]
                                                         / row[base]["captures_per_s"], 2)
                row["service_vs_naive_full"] = round(row["service"]["captures_per_s"]
                                                     / row["naive_full"]["captures_per_s"], 2)
                results["table"].append(row)
                print(json.dumps(row), flush=True)
        # Back to back from one client, against idle, small page: caller mode, context mode.
        results["latency_ms"] = {}
        for mode in ("caller", "context"):
            with screenshotd_server(BROWSER_MAX_CONCURRENT="3", BROWSER_ISOLATION=mode) as base:
                await latencies(base, page_urls(site, "small", 3, f"lat-warm-{mode}"), 1.0)
                idle = await latencies(base, page_urls(site, "small", 20, f"idle-{mode}"), 1.5)
                back = await latencies(base, page_urls(site, "small", 40, f"back-{mode}"), 0)
            results["latency_ms"][mode] = {
                "idle_p50": round(percentile(idle, 50), 1),
                "idle_p90": round(percentile(idle, 90), 1),
                "back_to_back_p50": round(percentile(back, 50), 1),
                "back_to_back_p90": round(percentile(back, 90), 1),
                "ratio_p50": round(percentile(back, 50) / percentile(idle, 50), 2)}
            print(json.dumps({mode: results["latency_ms"][mode]}), flush=True)
        # screenshotd batch against the sequential script and shot-scraper, whole commands.
        batch: dict[str, list[dict[str, Any]]] = {"batch": [], "sequential": [],
                                                  "shot_scraper": []}
        for n in range(rounds):
            batch["batch"].append(run_batch(page_urls(site, "small", batch_urls, f"b{n}"), 3))
            batch["sequential"].append(run_role(
                "sequential", page_urls(site, "small", batch_urls, f"s{n}"), 1))
            batch["shot_scraper"].append(run_shot_scraper(
                page_urls(site, "small", batch_urls, f"ss{n}")))
        results["batch"] = {"urls": batch_urls, "concurrency": 3,
                            **{name: summarise(r) for name, r in batch.items()}}
        for other in ("sequential", "shot_scraper"):
            results["batch"][f"batch_vs_{other}"] = round(
                results["batch"]["batch"]["captures_per_s"]
                / results["batch"][other]["captures_per_s"], 2)
        print(json.dumps(results["batch"]), flush=True)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--captures", type=int, default=24, help="captures per round")
    parser.add_argument("--pages", choices=["small", "corpus", "both"], default="both",
                        help="which pages (the corpus rows take most of the time)")
    parser.add_argument("--quick", action="store_true",
                        help="concurrency 3, the small page only, one round")
    parser.add_argument("--role", choices=["naive", "naive_full", "reuse", "sequential"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--urls", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        urls = Path(args.urls).read_text().split()
        print(json.dumps(asyncio.run(role_main(args.role, urls, args.concurrency))))
        sys.exit(0)
    concurrencies, rounds = [1, 3, 6], args.rounds
    kinds = ["small", "corpus"] if args.pages == "both" else [args.pages]
    if args.quick:
        concurrencies, kinds, rounds = [3], ["small"], 1
    report = asyncio.run(main(rounds, args.captures, concurrencies, kinds, batch_urls=40))
    report["machine"] = machine()
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    (out / "saturation.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
