"""Key lookup with 10,000 named keys (``API_KEYS_FILE``), per request, against its baselines.

- **The lookup**: :meth:`KeysFile.identify` (one SHA-256 and one dict lookup) for a key among
  10,000, in µs per call.
- **The whole door**: :meth:`Gatekeeper.admit` of a request carrying that key (the header
  scan, the lookup, the caller), in µs, against the same with ``API_KEYS`` of 2 keys and of
  10,000 keys (looked up the same way). Before this measurement ``API_KEYS`` compared the key
  with every key in turn: 435 µs a request with 10,000.

    python benchmarks/bench_accounts.py [--keys 10000] [--calls 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from common import report

from screenshotd.auth.accounts import KeysFile, toml_entry
from screenshotd.auth.callers import KeyRing
from screenshotd.auth.gatekeeper import Gatekeeper


def scope(key: str) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": "/screenshot", "query_string": b"url=x",
            "headers": [(b"host", b"localhost"), (b"accept", b"*/*"),
                        (b"authorization", f"Bearer {key}".encode())],
            "client": ("127.0.0.1", 5000)}


async def per_admit(gatekeeper: Gatekeeper, key: str, calls: int) -> float:
    """µs per admit; each request a fresh scope, as uvicorn makes one per request."""
    scopes = [scope(key) for _ in range(calls)]
    started = time.perf_counter()
    for each in scopes:
        await gatekeeper.admit(each)
    return (time.perf_counter() - started) / calls * 1e6


def best(values: list[float]) -> float:
    return min(values)


async def main(count: int, calls: int, rounds: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "keys.toml"
        path.write_text("".join(toml_entry(f"k{n}", f"key-{n}") for n in range(count)))
        keys_file = KeysFile(str(path))
        started = time.perf_counter()
        keys_file.load()
        load_ms = (time.perf_counter() - started) * 1000
    target = f"key-{count // 2}"
    lookups = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            keys_file.identify(target)
        lookups.append((time.perf_counter() - started) / calls * 1e6)
    named = Gatekeeper(KeyRing(()), keys_file=keys_file)
    few = Gatekeeper(KeyRing(("key-0", "key-1")))
    many = Gatekeeper(KeyRing(tuple(f"key-{n}" for n in range(count))))
    results: dict[str, list[float]] = {"named": [], "api_keys_2": [], "api_keys_many": []}
    for _ in range(rounds):
        results["named"].append(await per_admit(named, target, calls))
        results["api_keys_2"].append(await per_admit(few, "key-1", calls))
        results["api_keys_many"].append(await per_admit(many, target, calls))
    figures = {kind: round(best(values), 2) for kind, values in results.items()}
    return {
        "keys": count, "calls": calls, "file_load_ms": round(load_ms, 1),
        "identify_us": round(best(lookups), 2),
        "admit_us": figures,
        "named_10k_over_api_keys_2": round(figures["named"] / figures["api_keys_2"], 2),
        "api_keys_10k_over_api_keys_2": round(figures["api_keys_many"] / figures["api_keys_2"], 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    report("accounts", asyncio.run(main(args.keys, args.calls)))
