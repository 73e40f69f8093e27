"""The Docker image: its size layer by layer, and how long it takes from start to the first
``/health`` 200, against ``screenshotd serve`` started on the host in the same run.

    make image                                   # build screenshotd:test with buildah first
    .venv/bin/python benchmarks/bench_image.py [--image screenshotd:test] [--rounds 5]

The image runs as ``make image-test`` runs it (``buildah run``, its own user, entrypoint and
command; tests/image/container.py). The two start alternately; the figures are the medians.
Writes benchmarks/out/image.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import httpx
from common import ROOT, free_port, machine

from tests.image.container import IMAGE, Container, buildah
from tests.support import children


def layers(image: str) -> list[tuple[str, int]]:
    """(the Dockerfile step, bytes) for each filesystem layer of ``image``, base first."""
    info = json.loads(buildah("inspect", "--type", "image", image))
    steps = [h.get("created_by", "") for h in info["Docker"]["history"]
             if not h.get("empty_layer")]
    sizes = [layer["size"] for layer in json.loads(info["Manifest"])["layers"]]
    assert len(steps) == len(sizes), (steps, sizes)
    return list(zip(steps, sizes, strict=True))


def host_start() -> float:
    """Seconds from starting ``screenshotd serve`` on the host to its first /health 200."""
    port = free_port()
    env = {**os.environ, "PORT": str(port), "LOG_LEVEL": "warning"}
    began = time.monotonic()
    proc = children.popen([sys.executable, "-m", "screenshotd", "serve"], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    return time.monotonic() - began
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() - began > 60:
                raise RuntimeError("screenshotd serve did not start")
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(30)


def image_start(image: str) -> float:
    """Seconds from starting the image's entrypoint to its first /health 200."""
    with Container({"PORT": str(free_port())}, image) as container:
        container.start()
        return container.wait_healthy()


def step_name(created_by: str) -> str:
    text = created_by.replace("/bin/sh -c ", "").replace("#(nop) ", "").strip()
    return " ".join(text.split())[:70]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default=IMAGE)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    table = layers(args.image)
    total = sum(size for _, size in table)
    print(f"{args.image}: {total / 1e9:.2f} GB in {len(table)} layers")
    for i, (step, size) in enumerate(table):
        print(f"  {size / 1e6:9.1f} MB  {'(the base image)' if i == 0 else step_name(step)}")

    host: list[float] = []
    image: list[float] = []
    for _ in range(args.rounds):
        host.append(host_start())
        image.append(image_start(args.image))
    host_median, image_median = statistics.median(host), statistics.median(image)
    print(f"start to first /health 200: image {image_median:.2f} s, "
          f"host {host_median:.2f} s, ratio {image_median / host_median:.2f} "
          f"(medians of {args.rounds}; image runs {[round(s, 2) for s in image]})")

    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    (out / "image.json").write_text(json.dumps({
        "machine": machine(), "image": args.image, "bytes": total,
        "layers": [{"step": "(the base image)" if i == 0 else step_name(s), "bytes": b}
                   for i, (s, b) in enumerate(table)],
        "start_s": {"image": image, "host": host, "image_median": image_median,
                    "host_median": host_median, "ratio": image_median / host_median},
    }, indent=2))


if __name__ == "__main__":
    main()
