"""Benchmark (not a test): the batch phase on generated encounters, at several sizes.

    python benchmarks/bench_audit.py [--encounters 10000] [--steps 4]

Generated: one claim per visit, each embedding its encounter with HPI, exam and
plan notes of ~80 words drawn from a 3,000-word vocabulary. Patients have 1-6
visits; providers see ~25 patients a day, so provider-day groups are larger
than ``exact_group_max`` and go through MinHash/LSH. About 5% of notes copy an
earlier note of the same patient (carried forward) and 3% copy another note of
the provider's day (pasted exam), each with a word changed
(Jaccard about 0.88).

Two settings: the bundled one (exact pairwise comparison in groups up to
``exact_group_max``, which covers realistic groups) and MinHash/LSH forced on
every group (``exact_group_max`` 1), the path that keeps a pathological group
(hundreds of notes for one patient or one provider-day) near linear; the
recall of LSH against the exact pairs is printed. Timed separately: ``claim_facts`` (normalise the claim, read its encounters:
done while claims stream past) and ``run_batch`` (cloned notes + provider E/M
mix). Sizes double up to ``--encounters``, so the growth is visible: near
linear means the time per encounter stays flat as the batch grows. Single
process; peak RSS from getrusage.
"""

from __future__ import annotations

import argparse
import random
import resource
import time
from dataclasses import replace

from claimscrub.api.batch import claim_facts, run_batch
from claimscrub.documentation.cloned import ClonedConfig, load_cloned_config
from claimscrub.documentation.emstats import load_benchmarks

VOCAB = [f"w{i}" for i in range(3000)]
PROVIDERS = ["1234567893", "1114025228", "1003000126", "1942347382", "1356308324"]
LEVELS = ["99211", "99212", "99213", "99214", "99215"]


def _text(rng: random.Random, n: int = 80) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(n))


def _edit(rng: random.Random, text: str, changes: int = 1) -> str:
    words = text.split()
    for _ in range(changes):
        words[rng.randrange(len(words))] = rng.choice(VOCAB)
    return " ".join(words)


def generate(n: int, seed: int = 11) -> list[dict]:
    """n claims, one encounter each, with realistic scope-group sizes and some cloned sections."""
    rng = random.Random(seed)
    claims: list[dict] = []
    by_patient: dict[str, list[dict]] = {}
    by_day: dict[tuple[str, str], list[dict]] = {}
    patient = 0
    while len(claims) < n:
        patient += 1
        pid = f"P{patient:06d}"
        npi = PROVIDERS[patient % len(PROVIDERS)]
        for visit in range(rng.randint(1, 6)):
            if len(claims) >= n:
                break
            block = patient // 125  # 125 consecutive patients, 25 per provider, share their visit days
            day = f"2024-{1 + (block + 2 * visit) % 12:02d}-{1 + block % 28:02d}"
            sections = {"hpi": _text(rng), "exam": _text(rng), "plan": _text(rng)}
            earlier = by_patient.get(pid)
            same_day = by_day.get((npi, day))
            roll = rng.random()
            if earlier and roll < 0.05:
                sections["hpi"] = _edit(rng, rng.choice(earlier)["hpi"])
            elif same_day and roll < 0.08:
                sections["exam"] = _edit(rng, rng.choice(same_day)["exam"])
            by_patient.setdefault(pid, []).append(sections)
            by_day.setdefault((npi, day), []).append(sections)
            cid = f"C{len(claims):07d}"
            code = rng.choices(LEVELS, weights=(3, 3, 43, 48, 3) if npi != PROVIDERS[0] else (2, 3, 20, 60, 15))[0]
            claims.append(
                {
                    "claim_id": cid,
                    "type": "professional",
                    "payer": {"type": "commercial"},
                    "patient": {"id": pid, "sex": "F", "birth_date": "1960-01-01"},
                    "billing_provider": {"npi": "1356308324"},
                    "rendering_provider": {"npi": npi},
                    "place_of_service": "11",
                    "diagnoses": [{"code": "I10"}],
                    "lines": [
                        {
                            "sequence": 1,
                            "code": code,
                            "units": 1,
                            "charge": "100.00",
                            "from_date": day,
                            "diagnosis_pointers": [1],
                        }
                    ],
                    "encounters": [
                        {
                            "encounter_id": f"E{len(claims):07d}",
                            "date_of_service": day,
                            "link": {"claim_id": cid},
                            "sections": sections,
                        }
                    ],
                }
            )
    return claims


def measure(n: int, cloned: ClonedConfig) -> dict:
    claims = generate(n)
    t0 = time.process_time()
    facts = [claim_facts(c) for c in claims]
    t1 = time.process_time()
    report = run_batch(facts, cloned, load_benchmarks())
    t2 = time.process_time()
    return {
        "encounters": n,
        "facts_s": t1 - t0,
        "batch_s": t2 - t1,
        "clusters": report.cloned["clusters"],
        "pairs": report.cloned["matching_pairs"],
        "claims_flagged": len(report.claim_findings),
        "provider_findings": len(report.batch_findings),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--encounters", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=4, help="sizes: encounters / 2**(steps-1) ... encounters")
    args = parser.parse_args()
    sizes = [args.encounters // 2**i for i in reversed(range(args.steps))]
    default = load_cloned_config()
    modes = [
        (f"exact pairs in groups up to {default.exact_group_max} (bundled settings)", default),
        ("MinHash/LSH in every group (exact_group_max 1)", replace(default, exact_group_max=1)),
    ]
    found: dict[tuple[str, int], int] = {}
    for label, config in modes:
        print(f"\n{label}")
        print(
            f"{'encounters':>10} {'facts s':>8} {'batch s':>8} {'batch µs/enc':>13} {'clusters':>9} {'pairs':>6} "
            f"{'claims flagged':>15} {'provider findings':>18}"
        )
        for n in sizes:
            m = measure(n, config)
            found[(label, n)] = m["pairs"]
            print(
                f"{m['encounters']:>10} {m['facts_s']:>8.2f} {m['batch_s']:>8.2f} "
                f"{1e6 * m['batch_s'] / m['encounters']:>13.0f} {m['clusters']:>9} {m['pairs']:>6} "
                f"{m['claims_flagged']:>15} {m['provider_findings']:>18}"
            )
    exact, lsh = (label for label, _ in modes)
    recall = [found[(lsh, n)] / found[(exact, n)] for n in sizes if found[(exact, n)]]
    print(f"\nLSH recall of the exact matching pairs: {min(recall):.3f} (lowest over the sizes)")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
