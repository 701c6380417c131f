"""Cloned-note detection: near-identical note sections across visits.

Two scopes, as auditors look at cloning:

* ``same_patient``: one patient's visits (the same HPI/exam carried forward
  visit after visit);
* ``same_provider_day``: different patients seen by one provider on one date
  (one exam pasted into every note of the day).

Similarity is the Jaccard index of the sections' word k-shingle sets (words
are lower-cased alphanumeric runs; a shingle is k consecutive words). Defaults
come from ``rules/tables/em/cloned_notes.yaml``: k = 5, threshold = 0.8,
sections shorter than 25 words skipped (templated one-liners such as "no
acute distress" are legitimately identical). These are claimscrub's choices,
not a regulatory figure: no payer publishes a similarity threshold.

Scale: every pair inside a scope group is compared exactly when the group is
small (up to ``exact_group_max`` notes, 200 by default: a patient's visits, a
provider's day; in pure Python one MinHash signature costs about as much as a
thousand exact set comparisons, so exact is the faster path for every
realistic group). Larger groups go through MinHash signatures (``num_perm``
hash functions) and LSH banding (``bands`` bands), so only notes that share a
band bucket are compared exactly; work grows with the number of notes, not
with their pairs (except for the pairs that really are clones, which are the
answer). With 64 permutations in 16 bands, a pair at Jaccard 0.8 becomes a
candidate with probability above 0.999; candidates are then checked exactly,
so a reported similarity is never an estimate.

Matches carry encounter ids, section name and similarity only: never text.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claimscrub import yamlio
from claimscrub.documentation.encounter import Encounter
from claimscrub.resources import rules_dir

CONFIG_FILE = "cloned_notes.yaml"
SCOPES = ("same_patient", "same_provider_day")
_WORD = re.compile(r"[a-z0-9]+")
_PRIME = (1 << 61) - 1


@dataclass(frozen=True, slots=True)
class ClonedConfig:
    k: int = 5
    threshold: float = 0.8
    min_words: int = 25
    num_perm: int = 64
    bands: int = 16
    exact_group_max: int = 200
    sections: tuple[str, ...] = ("hpi", "ros", "exam", "assessment", "plan")
    scopes: tuple[str, ...] = SCOPES
    source: str = ""
    references: tuple[str, ...] = ()  # what a cloned-note finding cites

    def __post_init__(self) -> None:
        if self.k < 1 or not 0 < self.threshold <= 1 or self.num_perm % self.bands:
            raise ValueError("cloned-note config: k >= 1, 0 < threshold <= 1, num_perm a multiple of bands")
        unknown = set(self.scopes) - set(SCOPES)
        if unknown:
            raise ValueError(f"cloned-note config: unknown scope {min(unknown)!r}")


def load_cloned_config(path: str | Path | None = None) -> ClonedConfig:
    """The detection settings from YAML (the bundled file when no path is given)."""
    path = Path(path) if path else rules_dir() / "tables" / "em" / CONFIG_FILE
    data = yamlio.safe_load(path.read_text(encoding="utf-8")) or {}
    fields = set(ClonedConfig.__dataclass_fields__)
    kwargs: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in fields}
    return ClonedConfig(**kwargs)


@dataclass(frozen=True, slots=True)
class NoteText:
    """What cloned-note detection needs from an encounter."""

    encounter_id: str
    patient_id: str | None
    provider_npi: str | None
    date_of_service: str
    sections: Mapping[str, str]

    @classmethod
    def of(cls, encounter: Encounter) -> NoteText:
        return cls(
            encounter.encounter_id,
            encounter.patient_id,
            encounter.provider_npi,
            encounter.date_of_service,
            encounter.sections,
        )


@dataclass(frozen=True, slots=True)
class ClonedMatch:
    section: str
    encounter_ids: tuple[str, str]  # sorted
    similarity: float  # exact Jaccard of the shingle sets, 0..1
    scope: str  # same_patient / same_provider_day
    shared_shingles: int
    shingles: tuple[int, int]  # set sizes, in encounter_ids order

    def explain(self) -> str:
        a, b = self.encounter_ids
        where = "the same patient's visits" if self.scope == "same_patient" else "patients of one provider on one day"
        return f"{self.section} of encounters {a} and {b} is {self.similarity:.0%} identical ({where})"


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _hash(shingle: str) -> int:
    return int.from_bytes(hashlib.blake2b(shingle.encode(), digest_size=8).digest(), "little")


def shingles(text: str, k: int = 5) -> frozenset[int]:
    """Hashed word k-shingles of a text; a text shorter than k words is one shingle."""
    w = words(text)
    if not w:
        return frozenset()
    if len(w) < k:
        return frozenset({_hash(" ".join(w))})
    return frozenset(_hash(" ".join(w[i : i + k])) for i in range(len(w) - k + 1))


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    if not a and not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def _permutations(n: int) -> tuple[tuple[int, int], ...]:
    rng = random.Random(20210101)  # fixed: the same notes give the same candidates every run
    return tuple((rng.randrange(1, _PRIME), rng.randrange(0, _PRIME)) for _ in range(n))


def minhash(shingle_set: frozenset[int], perms: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    return tuple(min((a * h + b) % _PRIME for h in shingle_set) for a, b in perms)


def _scope_keys(note: NoteText, scope: str) -> tuple | None:
    if scope == "same_patient":
        return (note.patient_id,) if note.patient_id else None
    return (note.provider_npi, note.date_of_service) if note.provider_npi else None


def _pair_in_scope(a: NoteText, b: NoteText, scope: str) -> bool:
    if a.encounter_id == b.encounter_id:
        return False
    if scope == "same_provider_day":
        # different patients (the same patient is the other scope); unknown patients count as different
        return not (a.patient_id and a.patient_id == b.patient_id)
    return True


def find_cloned_sections(
    notes: Iterable[NoteText | Encounter], config: ClonedConfig | None = None
) -> list[ClonedMatch]:
    """Near-identical sections within each scope group, best matches first."""
    cfg = config or load_cloned_config()
    items = [n if isinstance(n, NoteText) else NoteText.of(n) for n in notes]
    perms = _permutations(cfg.num_perm)
    rows = cfg.num_perm // cfg.bands
    found: dict[tuple[str, str, str, str], ClonedMatch] = {}

    for section in cfg.sections:
        sets: dict[int, frozenset[int]] = {}
        for i, note in enumerate(items):
            text = note.sections.get(section)
            if text and len(words(text)) >= cfg.min_words:
                sets[i] = shingles(text, cfg.k)
        signatures: dict[int, tuple[int, ...]] = {}

        for scope in cfg.scopes:
            groups: dict[tuple, list[int]] = defaultdict(list)
            for i in sets:
                key = _scope_keys(items[i], scope)
                if key is not None:
                    groups[key].append(i)
            for members in groups.values():
                if len(members) < 2:
                    continue
                if len(members) <= cfg.exact_group_max:
                    candidates: Iterable[tuple[int, int]] = itertools.combinations(members, 2)
                else:
                    candidates = _lsh_candidates(members, sets, signatures, perms, cfg.bands, rows)
                for i, j in candidates:
                    a, b = items[i], items[j]
                    if not _pair_in_scope(a, b, scope):
                        continue
                    sim = jaccard(sets[i], sets[j])
                    if sim < cfg.threshold:
                        continue
                    (x, sx), (y, sy) = sorted(((a.encounter_id, len(sets[i])), (b.encounter_id, len(sets[j]))))
                    key = (section, scope, x, y)
                    if key not in found:
                        found[key] = ClonedMatch(
                            section,
                            (x, y),
                            round(sim, 4),
                            scope,
                            len(sets[i] & sets[j]),
                            (sx, sy),
                        )
    return sorted(found.values(), key=lambda m: (-m.similarity, m.section, m.encounter_ids))


def _lsh_candidates(
    members: list[int],
    sets: dict[int, frozenset[int]],
    signatures: dict[int, tuple[int, ...]],
    perms: tuple[tuple[int, int], ...],
    bands: int,
    rows: int,
) -> set[tuple[int, int]]:
    """Pairs sharing at least one LSH band bucket (signatures cached across scopes)."""
    buckets: dict[tuple[int, tuple[int, ...]], list[int]] = defaultdict(list)
    for i in members:
        sig = signatures.get(i)
        if sig is None:
            sig = signatures[i] = minhash(sets[i], perms)
        for band in range(bands):
            buckets[(band, sig[band * rows : (band + 1) * rows])].append(i)
    pairs: set[tuple[int, int]] = set()
    for bucket in buckets.values():
        if len(bucket) > 1:
            pairs.update(itertools.combinations(sorted(bucket), 2))
    return pairs


def clone_clusters(matches: Iterable[ClonedMatch]) -> list[tuple[str, tuple[str, ...]]]:
    """Group matches per section into clusters of encounter ids (one finding per cluster instead of per pair)."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(x: tuple[str, str]) -> tuple[str, str]:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for m in matches:
        a, b = (
            find((m.section, m.encounter_ids[0])),
            find((m.section, m.encounter_ids[1])),
        )
        if a != b:
            parent[max(a, b)] = min(a, b)
    clusters: dict[tuple[str, str], list[str]] = defaultdict(list)
    for node in list(parent):
        clusters[find(node)].append(node[1])
    return sorted((root[0], tuple(sorted(ids))) for root, ids in clusters.items())
