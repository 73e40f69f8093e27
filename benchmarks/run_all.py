"""Run every benchmark in turn (make bench). Each prints its own ratio against its baseline."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.support import children  # noqa: E402  (each benchmark ends if this run is stopped)

for script in ("bench_cache.py", "bench_latency.py", "bench_saturation.py", "bench_shot.py",
               "bench_throughput.py",
               "bench_guard.py", "bench_jobs.py", "bench_diff.py", "bench_filters.py",
               "bench_extract.py", "bench_gate.py", "bench_hostile.py", "bench_storage.py",
               "bench_replicas.py", "bench_accounts.py", "bench_mcp.py", "bench_og.py",
               "bench_video.py", "bench_proxy.py", "bench_pdf.py", "bench_stable.py",
               "bench_frames.py", "bench_faces.py", "bench_monitors.py"):
    print(f"== {script}", flush=True)
    children.run([sys.executable, str(HERE / script)], check=True, cwd=HERE)
