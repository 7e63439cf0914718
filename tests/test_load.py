"""Load, the short version CI runs (the 60-second one is tests/benchmarks/load_pollers.py): 50
concurrent pollers and 4 submitters against the real server process for 10 s. Zero errors, zero
"database is locked", every session finished."""

from __future__ import annotations

from tests.benchmarks.load_pollers import run_load


def test_fifty_pollers_and_submitters_get_no_error_and_no_database_lock(tmp_path):
    report = run_load(tmp_path, seconds=10, pollers=50, submitters=4)
    figures = report.figures()
    print("\nload:", figures)
    assert report.errors == [], report.errors[:10]
    assert report.database_locked == 0 and report.server_5xx_logged == 0
    assert report.polls > 500 and report.submits >= 20, figures
    assert report.completed == report.submits + 4  # + the one seeded per submitter's token
