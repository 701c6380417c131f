"""Claims per second of read_x12 against a plain segment split, and of read + scrub end to end.

The baseline only decodes and splits segments and elements: it is the floor any
X12 reader pays, so the ratio says what the loop walking and checks cost. The
end-to-end figure reads the file and scrubs every item with the bundled rules
and the tables found on this machine (one process, durable backend): it is the
throughput check on the imsweb 820-claim sample, whose claims are read with
conformance findings (410) or rejected for an unreadable procedure code (410).

    /tmp/venv/bin/python benchmarks/bench_x12.py [file.x12] [--repeat N] [--scrub-repeat N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from claimscrub.inputs.x12 import read_delimiters, read_x12  # noqa: E402

REFDATA = Path(os.environ.get("CLAIMSCRUB_REFDATA", REPO.parent / "shared" / "refdata"))
DEFAULT = REFDATA / "samples" / "x12" / "imsweb" / "x12_many_claims.txt"


def plain_split(data: bytes) -> int:
    """Decode, split into segments and elements, count CLMs: nothing else."""
    text = data.decode("utf-8").lstrip()
    delims = read_delimiters(text)
    claims = 0
    for raw in text.split(delims.segment):
        seg = raw.strip("\r\n").split(delims.element)
        if seg[0] == "CLM":
            claims += 1
    return claims


def read_all(data: bytes) -> int:
    return sum(1 for item in read_x12(data, "bench") if item.claim_id is not None)


def icd10_variant(data: bytes) -> bytes:
    """The imsweb claims carry ICD-9 codes and every second one a 6-character procedure
    code; this in-memory variant (ICD-10 codes, 5-character code) times the path where
    every claim is read into a dict with no conformance notes."""
    return (
        data.replace(b"HI*BK*8901*BF*87200*BF:5559", b"HI*ABK:J069*ABF:R509*ABF:Z0000")
        .replace(b"HI*BK*1987*BF*4134*BF:5559", b"HI*ABK:J069*ABF:R509*ABF:Z0000")
        .replace(b"HC:478331:", b"HC:99213:")
    )


def scrub_all(scrubber, data: bytes) -> Counter:
    """Read and scrub every claim: statuses counted, as the CLI would report them."""
    return Counter(scrubber.scrub_item(item).status for item in read_x12(data, "bench"))


def best_rate(fn, data: bytes, repeat: int) -> tuple[int, float]:
    """Best of `repeat` runs: claims and claims per second."""
    best = float("inf")
    claims = 0
    for _ in range(repeat):
        start = time.perf_counter()
        claims = fn(data)
        best = min(best, time.perf_counter() - start)
    return claims, claims / best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--scrub-repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.file.is_file():
        print(f"benchmark file not found: {args.file} (set CLAIMSCRUB_REFDATA)", file=sys.stderr)
        return 2
    data = args.file.read_bytes()
    split_claims, split_rate = best_rate(plain_split, data, args.repeat)
    read_claims, read_rate = best_rate(read_all, data, args.repeat)
    print(f"file: {args.file.name} ({len(data):,} bytes, {split_claims} CLM segments)")
    print(f"plain segment split : {split_rate:>10,.0f} claims/s")
    share = read_rate / split_rate
    print(f"read_x12            : {read_rate:>10,.0f} claims/s ({read_claims} claims, {share:.0%} of split)")
    variant = icd10_variant(data)
    if variant != data:
        good = sum(1 for item in read_x12(variant, "bench") if item.data is not None)
        _, variant_rate = best_rate(read_all, variant, args.repeat)
        print(f"read_x12, ICD-10    : {variant_rate:>10,.0f} claims/s ({good} claims read into dicts)")
    from claimscrub.api.scrubber import Scrubber

    scrubber = Scrubber()
    scrubber.scrub_item(next(item for item in read_x12(data, "warm") if item.data is not None))
    best, statuses = float("inf"), Counter()
    for _ in range(args.scrub_repeat):
        start = time.perf_counter()
        statuses = scrub_all(scrubber, data)
        best = min(best, time.perf_counter() - start)
    total = sum(statuses.values())
    print(
        f"read + scrub        : {total / best:>10,.0f} claims/s ({total} claims: "
        f"{statuses['scrubbed']} scrubbed, {statuses['rejected']} rejected)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
