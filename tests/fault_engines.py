"""Engines that misbehave on purpose, loadable by a server started as a child process
(`run.py --engine tests.fault_engines:hanging_engine`). Tests whose subject is the server's
handling of faults use them; they stand in for a wedged native call, which cannot be made on cue.
"""

from __future__ import annotations

import time

from tests.doubles import InstantEngine


class HangingEngine(InstantEngine):
    """Every try-on blocks forever and ignores its cancel flag, like a stuck GPU driver call."""

    name = "hanging"

    def run(self, job, progress):
        progress("diffusion", 0.1)
        while True:
            time.sleep(3600)


def hanging_engine(settings: object) -> HangingEngine:
    return HangingEngine()
