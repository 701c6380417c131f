"""Cloned-note detection: shingled Jaccard similarity within a patient's visits or a provider's day."""

from __future__ import annotations

import random

import pytest

from claimscrub.documentation import cloned
from claimscrub.documentation.cloned import ClonedConfig, NoteText, find_cloned_sections
from claimscrub.documentation.encounter import encounter_from_document

EXAM = (
    "General: alert and oriented, in no acute distress. HEENT: normocephalic, atraumatic, pupils equal and "
    "reactive, oropharynx clear. Neck: supple without lymphadenopathy. Lungs: clear to auscultation "
    "bilaterally without wheezes or crackles. Heart: regular rate and rhythm without murmurs. Abdomen: soft, "
    "non-tender, non-distended, normal bowel sounds. Extremities: no edema, pulses intact."
)
VOCAB = [f"w{i}" for i in range(3000)]


def random_text(rng: random.Random, n: int = 80) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(n))


def note(eid, patient="P1", npi="1234567893", dos="2024-01-10", **sections) -> NoteText:
    return NoteText(eid, patient, npi, dos, sections)


def test_shingles_and_jaccard():
    a = cloned.shingles("one two three four five six", k=5)
    assert len(a) == 2
    assert cloned.jaccard(a, a) == 1.0
    assert cloned.jaccard(a, cloned.shingles("One, two; THREE four five six!", k=5)) == 1.0  # case and punctuation
    assert cloned.jaccard(frozenset(), frozenset()) == 0.0
    assert len(cloned.shingles("too short", k=5)) == 1


def test_same_patient_carried_forward_exam_is_found():
    rng = random.Random(1)
    notes = [
        note("E1", dos="2024-01-10", exam=EXAM, hpi=random_text(rng)),
        note("E2", dos="2024-02-10", exam=EXAM, hpi=random_text(rng)),
        note(
            "E3",
            dos="2024-03-10",
            exam=EXAM.replace("no edema", "trace edema"),
            hpi=random_text(rng),
        ),
    ]
    matches = find_cloned_sections(notes)
    assert {m.encounter_ids for m in matches} == {
        ("E1", "E2"),
        ("E1", "E3"),
        ("E2", "E3"),
    }
    assert all(m.section == "exam" and m.scope == "same_patient" for m in matches)
    best = matches[0]
    assert best.encounter_ids == ("E1", "E2") and best.similarity == 1.0
    edited = next(m for m in matches if m.encounter_ids == ("E1", "E3"))
    assert 0.8 <= edited.similarity < 1.0
    assert "exam of encounters E1 and E3" in edited.explain()


def test_same_provider_same_day_across_patients():
    rng = random.Random(2)
    notes = [
        note("A", patient="P1", exam=EXAM, plan=random_text(rng)),
        note("B", patient="P2", exam=EXAM, plan=random_text(rng)),
        note("C", patient="P3", npi="1245319599", exam=EXAM),  # another provider
        note("D", patient="P4", dos="2024-01-11", exam=EXAM),  # another day
    ]
    matches = find_cloned_sections(notes)
    assert [(m.encounter_ids, m.scope) for m in matches] == [(("A", "B"), "same_provider_day")]


def test_below_threshold_and_short_sections_are_not_reported():
    rng = random.Random(3)
    notes = [
        note("E1", hpi=random_text(rng)),
        note("E2", hpi=random_text(rng)),
        note("E3", assessment="Stable. Continue current medications."),
        note("E4", assessment="Stable. Continue current medications."),
    ]
    assert find_cloned_sections(notes) == []


def test_threshold_and_k_come_from_config():
    half = EXAM.split()
    changed = " ".join(w if i % 6 else "changed" for i, w in enumerate(half))
    notes = [note("E1", exam=EXAM), note("E2", exam=changed)]
    strict = ClonedConfig(threshold=0.8)
    loose = ClonedConfig(threshold=0.05, k=2)
    assert find_cloned_sections(notes, strict) == []
    assert len(find_cloned_sections(notes, loose)) == 1


def test_bundled_config_is_documented_data():
    cfg = cloned.load_cloned_config()
    assert (cfg.k, cfg.threshold, cfg.min_words) == (5, 0.8, 25)
    assert cfg.num_perm % cfg.bands == 0
    assert "OIG" in cfg.source


def test_config_rejects_nonsense():
    with pytest.raises(ValueError):
        ClonedConfig(num_perm=64, bands=10)
    with pytest.raises(ValueError):
        ClonedConfig(scopes=("everyone",))


def test_encounters_are_accepted_directly_and_no_text_leaks():
    docs = [
        {
            "encounter_id": f"ENC-{i}",
            "date_of_service": f"2024-0{i}-01",
            "link": {"patient_id": "PAT-9", "provider_npi": "1234567893"},
            "sections": {"exam": EXAM},
        }
        for i in (1, 2)
    ]
    matches = find_cloned_sections([encounter_from_document(d) for d in docs])
    assert len(matches) == 1
    rendered = repr(matches[0]) + matches[0].explain()
    assert "auscultation" not in rendered and "PAT-9" not in rendered


def test_large_group_uses_lsh_and_finds_planted_clones(monkeypatch):
    rng = random.Random(4)
    n = 400
    notes = [note(f"E{i:04d}", patient=f"P{i}", exam=random_text(rng)) for i in range(n)]
    base = random_text(rng, 120)
    variant = base.split()
    variant[60] = "different"
    planted = [
        note("CLONE-A", patient="PA", exam=base),
        note("CLONE-B", patient="PB", exam=" ".join(variant)),
    ]
    calls = 0
    real = cloned.jaccard

    def counting(a, b):
        nonlocal calls
        calls += 1
        return real(a, b)

    monkeypatch.setattr(cloned, "jaccard", counting)
    matches = find_cloned_sections(notes + planted)
    assert [m.encounter_ids for m in matches] == [("CLONE-A", "CLONE-B")]
    assert matches[0].similarity > 0.9
    pairs = (n + 2) * (n + 1) // 2
    assert calls < pairs / 100, f"{calls} exact comparisons for {pairs} pairs: not sub-quadratic"


def test_clusters_group_pairs():
    rng = random.Random(5)
    notes = [note(f"E{i}", exam=EXAM, hpi=random_text(rng)) for i in range(4)]
    matches = find_cloned_sections(notes)
    assert len(matches) == 6
    assert cloned.clone_clusters(matches) == [("exam", ("E0", "E1", "E2", "E3"))]
