"""Benchmark (not a test): the 849 X12 sample claims scrubbed to HTML, against JSON in the same run.

    python benchmarks/bench_report.py [--samples ../shared/refdata/samples/x12] [--repeat 3]

1. End to end: ``claimscrub scrub <5010 samples> --format json|html -o FILE`` as child processes
   (bundled sample tables), each repeated; wall seconds (best of the repeats) and the child's
   peak RSS (wait4). The JSON run is the baseline: the ratio is what the HTML page costs on top.
2. Rendering alone: the claims scrubbed once in this process, then ``output.to_json`` against
   ``scrub_html`` on the same results (best of the repeats).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def sample_files(folder: Path) -> list[Path]:
    """The 5010 samples (the 4010 folders and the licence texts left out), as tests/test_x12_samples.py reads them."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and "LICENSE" not in p.name and "004010" not in str(p))


def run_cli(files: list[Path], fmt: str, out: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one scrub in a child process."""
    cmd = [
        sys.executable,
        "-m",
        "claimscrub.cli.main",
        "scrub",
        *map(str, files),
        "--format",
        fmt,
        "-o",
        str(out),
        "--samples",
        "--no-progress",
    ]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{fmt} run failed with exit code {proc.returncode}")
    return seconds, usage.ru_maxrss / 1024


def render_alone(files: list[Path], repeat: int) -> tuple[int, float, float, int]:
    from claimscrub.api.scrubber import Scrubber
    from claimscrub.inputs.x12 import read_x12
    from claimscrub.output.writers import to_json
    from claimscrub.report.scrub_report import LineIndex, scrub_html

    scrubber = Scrubber(samples=True)
    index = LineIndex()
    results = [scrubber.scrub(item) for path in files for item in index.watch(read_x12(path.read_bytes(), str(path)))]
    meta = {
        "claimscrub": "bench",
        "packs": {},
        "data_editions": [],
        "not_checked": [],
        "input_errors": [],
        "seconds": 0,
    }
    best_json = best_html = float("inf")
    size = 0
    for _ in range(repeat):
        t = time.perf_counter()
        to_json(results, meta)
        best_json = min(best_json, time.perf_counter() - t)
        t = time.perf_counter()
        size = len(scrub_html(results, meta, index))
        best_html = min(best_html, time.perf_counter() - t)
    return len(results), best_json, best_html, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=REPO.parent / "shared" / "refdata" / "samples" / "x12")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    files = sample_files(args.samples)
    if not files:
        raise SystemExit(f"no X12 samples under {args.samples}")
    with tempfile.TemporaryDirectory() as tmp:
        best: dict[str, tuple[float, float]] = {}
        for _ in range(args.repeat):
            for fmt in ("json", "html"):
                seconds, rss = run_cli(files, fmt, Path(tmp) / f"scrub.{fmt}")
                if fmt not in best or seconds < best[fmt][0]:
                    best[fmt] = (seconds, rss)
        html_size = (Path(tmp) / "scrub.html").stat().st_size
    (js, jr), (hs, hr) = best["json"], best["html"]
    print(
        f"end to end, {len(files)} files, best of {args.repeat}: json {js:.2f} s (peak RSS {jr:.0f} MiB), "
        f"html {hs:.2f} s (peak RSS {hr:.0f} MiB, {html_size / 1e6:.1f} MB); html/json = {hs / js:.2f}x"
    )
    claims, rj, rh, size = render_alone(files, args.repeat)
    print(
        f"rendering alone, {claims} claims: to_json {rj:.3f} s, scrub_html {rh:.3f} s "
        f"({size / 1e6:.1f} MB); html/json = {rh / rj:.1f}x"
    )


if __name__ == "__main__":
    main()
