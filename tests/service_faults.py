"""A scrub-worker factory that misbehaves on purpose, for the service's supervision tests.

It runs in the worker process (so it lives in an importable module,
not in a test file): the real scrubber, except for claims whose id starts with

* ``FAULT-CRASH``: the worker segfaults (as a crash in durable-rules' C core does);
* ``FAULT-CRASH-ONCE``: segfaults the first time only (a marker file in the fault folder);
* ``FAULT-SLOW``: the claim takes 60 s;
* ``FAULT-RAISE``: an exception whose message holds a would-be birth date.

When ``fail-start`` exists in the fault folder a new worker fails to build its scrubber. The fault folder
is the parent of the service's data directory (workers come from a fork server started once per test
session, so they do not see environment variables set later).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from claimscrub.service.pool import build_scrub

SECRET = "1961-07-04"  # never to appear in an answer or a log


def faulty_scrub(config, rulebook):
    folder = Path(config.data_dir).parent
    if (folder / "fail-start").exists():
        raise RuntimeError(f"cannot start: {SECRET}")
    real = build_scrub(config, rulebook)

    def scrub(item):
        cid = item.claim_id or ""
        if cid.startswith("FAULT-CRASH-ONCE"):
            marker = folder / cid
            if not marker.exists():
                marker.touch()
                os.kill(os.getpid(), signal.SIGSEGV)
        elif cid.startswith("FAULT-CRASH"):
            os.kill(os.getpid(), signal.SIGSEGV)
        elif cid.startswith("FAULT-SLOW"):
            time.sleep(60)
        elif cid.startswith("FAULT-RAISE"):
            raise ValueError(f"patient born {SECRET}")
        return real(item)

    return scrub
