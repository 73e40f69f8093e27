"""Run every benchmark in turn (make bench). Each prints its own ratio against its baseline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for script in ("bench_cache.py", "bench_latency.py", "bench_saturation.py", "bench_throughput.py",
               "bench_guard.py", "bench_jobs.py", "bench_diff.py", "bench_filters.py",
               "bench_extract.py", "bench_gate.py", "bench_hostile.py", "bench_storage.py",
               "bench_replicas.py", "bench_accounts.py", "bench_mcp.py", "bench_og.py",
               "bench_video.py", "bench_proxy.py", "bench_pdf.py", "bench_stable.py",
               "bench_frames.py"):
    print(f"== {script}", flush=True)
    subprocess.run([sys.executable, str(HERE / script)], check=True, cwd=HERE)
