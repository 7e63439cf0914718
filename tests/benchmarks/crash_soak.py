"""The crash-safety harness of tests/test_crash_safety.py, run long: many more SIGKILLs at random
moments under submissions and polls, then the same end checks (no accepted session lost, integrity
ok, no file without a row, no row without its files).

    python -m tests.benchmarks.crash_soak [--kills 200] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from tests.test_crash_safety import run_crash_soak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="keep the data folder and server log here")
    parser.add_argument("--engine-delay", type=float, default=0.1,
                        help="seconds per try-on: longer means more kills land mid-inference")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        report = run_crash_soak(workdir, kills=args.kills, seed=args.seed, engine_delay_s=args.engine_delay,
                                submitters=3, pollers=5, max_gap_s=1.0, submit_pause_s=0.4)
    print(report.summary())
    figures = {k: v for k, v in asdict(report).items() if k != "accepted"}
    figures["accepted"] = len(report.accepted)
    figures["lost"] = len(report.lost)
    figures["unfinished"] = len(report.unfinished)
    figures["orphans_after_sweep"] = report.orphans_after_sweep[:20]
    print(json.dumps(figures, indent=2, default=str))
    ok = (not report.lost and not report.unfinished and not report.regressions and not report.missing_files
          and not report.orphans_after_sweep
          and report.integrity == "ok" and report.poll_5xx == 0 and report.database_locked == 0
          and report.completed + report.failed == len(report.accepted))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
