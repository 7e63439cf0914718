"""Median time per classic try-on at 1024 px, with and without the person-analysis cache.

Run: python tests/benchmarks/bench_classic.py [--runs 7] [--json PATH]
"Cold" gives every run a new person key, so MediaPipe runs each time (the first try-on of a
profile); "cache hit" reuses one key (a second garment on the same profile). The garment cut-out
is cached by the engine too, so "cold" also cuts the garment out afresh each time (a new image).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from tests.garments import draw_dress, draw_top  # noqa: E402
from tryon_server.engines.base import TryOnJob  # noqa: E402
from tryon_server.engines.classic import ClassicEngine  # noqa: E402


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", help="also write every run's seconds here (to pool interleaved runs of two versions)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    engine = ClassicEngine()
    t = time.perf_counter()
    engine.load()
    load_s = time.perf_counter() - t
    photos = {n: Image.open(ROOT / "tests" / "fixtures" / n).convert("RGB") for n in ("astronaut.png", "grace_hopper.jpg")}
    results: dict[str, list[float]] = {"cold": [], "cache hit": []}
    for name, person in photos.items():
        engine.run(TryOnJob(person=person, garment=draw_top(), person_key=name), lambda s, p: None)  # warm
        for i in range(args.runs):
            # a fresh garment image each time (a different product: no cut-out cache hit either)
            garment = draw_top() if i % 2 else draw_dress()
            garment.putpixel((0, 0), (i, i, i))
            t = time.perf_counter()
            engine.run(TryOnJob(person=person, garment=garment, person_key=f"{name}-{i}"), lambda s, p: None)
            results["cold"].append(time.perf_counter() - t)
            garment = draw_top()
            garment.putpixel((0, 1), (i, i, i))
            t = time.perf_counter()
            engine.run(TryOnJob(person=person, garment=garment, person_key=name), lambda s, p: None)
            results["cache hit"].append(time.perf_counter() - t)
    print(f"machine: nproc={os.cpu_count()} cpu={cpu_model()!r} python={platform.python_version()}")
    print(f"load(): {load_s:.2f} s; output 1024 px long side; {args.runs} runs x 2 photos each")
    for label, values in results.items():
        print(f"{label:>10}: median {statistics.median(values):.3f} s  (min {min(values):.3f}, max {max(values):.3f})")
    if args.json:
        Path(args.json).write_text(json.dumps({"load_s": load_s, **results}))


if __name__ == "__main__":
    main()
