"""Hostile rule files before and after (a script, not a test): backtracking regex and billion laughs.

    python benchmarks/bench_hostile.py

* ``^(a+)+$`` on ``"a" * n + "!"``: Python's ``re`` (the engine ``matches`` used
  before, the baseline) at growing n, extrapolated to the 40-character field of
  issue #12 (each extra character doubles the time), against RE2 at n = 40.
* A billion-laughs YAML (nine levels of nine aliases) through ``yamlio.load_text``,
  in a fresh process: time to the refusal and that process's peak RSS.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from claimscrub.lang.regex import compile_pattern  # noqa: E402

PATTERN = "^(a+)+$"

LAUGHS = r"""
import resource, sys, time
sys.path.insert(0, sys.argv[1])
from claimscrub.yamlio import YamlError, load_text
text = 'lol0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
for i in range(1, 9):
    text += f"lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n"
started = time.perf_counter()
try:
    load_text(text, "laughs.yaml")
    outcome = "loaded"
except YamlError as exc:
    outcome = f"refused at {exc.line}:{exc.column}"
took = time.perf_counter() - started
peak = max(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
print(f"billion laughs ({len(text.encode())} bytes): {outcome} in {took * 1000:.1f} ms, peak RSS {peak:.0f} MB")
"""


def timed(fn, text: str, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    python_rx, re2_rx = re.compile(PATTERN), compile_pattern(PATTERN)
    per_char = []
    last = None
    for n in (18, 20, 22, 24):
        took = timed(python_rx.search, "a" * n + "!")
        print(f"re  n={n}: {took:.3f} s")
        if last:
            per_char.append((took / last) ** 0.5)
        last = took
    growth = sum(per_char) / len(per_char)
    estimate = last * growth ** (40 - 24)
    re2_took = timed(re2_rx.search, "a" * 40 + "!", repeat=5)
    print(f"re  n=40 (extrapolated, x{growth:.2f} per character): {estimate:,.0f} s")
    print(f"re2 n=40: {re2_took * 1e6:.1f} us   (re at n=24 / re2 at n=40: {last / re2_took:,.0f}x)")
    subprocess.run([sys.executable, "-c", LAUGHS, str(REPO)], check=True)


if __name__ == "__main__":
    main()
