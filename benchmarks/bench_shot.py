"""``screenshotd shot`` of one page against a one-page Playwright script, whole commands.

Both capture the same small page (viewport PNG, 1280x800, wait for load) from the tests' site,
with the same Chromium build: the one the service picks (Debian's headless shell), handed to the
script by path. Each run gets a URL of its own. The two commands alternate, start-up and exit
included, and the medians are compared:

- **shot**: ``python -m screenshotd shot URL -o out.png``, with the service's defaults (the
  private-network guard, the stability wait, fonts and images settled before the shot);
- **script**: ``benchmarks/one_page.py``: launch, one context, goto, screenshot, close.

The package is byte-compiled first, as an installed package is (``pip install`` compiles it;
Playwright, which the script imports, was): a checkout run with ``PYTHONDONTWRITEBYTECODE``
would otherwise compile screenshotd's sources on every start, and that is not the command's
cost.

    python benchmarks/bench_shot.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, children, local_site, report

from screenshotd.settings import Settings

HERE = Path(__file__).resolve().parent
PAGE = "/pages/basic"


def timed(command: list[str]) -> float:
    """Wall seconds of a whole command, from start to exit; it must succeed."""
    env = {**os.environ, "ALLOW_PRIVATE_HOSTS": "127.0.0.1", "LOG_LEVEL": "warning"}
    started = time.perf_counter()
    children.run(command, env=env, check=True, capture_output=True, timeout=120, cwd=ROOT)
    return time.perf_counter() - started


def main(rounds: int) -> dict[str, Any]:
    compileall.compile_dir(str(ROOT / "screenshotd"), quiet=1)
    chromium = Settings().resolve_chromium()
    if chromium is None:
        raise SystemExit("no Chromium: run `make install-test`")
    times: dict[str, list[float]] = {"shot": [], "script": []}
    with local_site() as site, tempfile.TemporaryDirectory() as tmp:
        for n in range(rounds + 1):  # the first pair warms the disk cache, and is not counted
            shot = timed([sys.executable, "-m", "screenshotd", "shot",
                          f"{site}{PAGE}?shot={n}", "-o", f"{tmp}/shot{n}.png"])
            script = timed([sys.executable, str(HERE / "one_page.py"),
                            f"{site}{PAGE}?script={n}", f"{tmp}/script{n}.png", chromium])
            if n:
                times["shot"].append(shot)
                times["script"].append(script)
            for name in (f"shot{n}.png", f"script{n}.png"):
                if Path(tmp, name).stat().st_size < 1000:
                    raise RuntimeError(f"{name} is not a picture")
    shot_s, script_s = statistics.median(times["shot"]), statistics.median(times["script"])
    return {"chromium": chromium, "rounds": rounds, "shot_s": round(shot_s, 3),
            "script_s": round(script_s, 3), "shot_vs_script": round(shot_s / script_s, 3),
            "every_round": {name: [round(t, 3) for t in values]
                            for name, values in times.items()}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    report("shot", main(parser.parse_args().rounds))
