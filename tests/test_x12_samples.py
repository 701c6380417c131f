"""Every 5010 X12 sample claim written by others, read and scrubbed end to end.

The samples live in the shared reference data (never copied here); the tests
skip, saying why, when it is absent. pyx12 is the conformance oracle: it reads
the same claims, lines, codes, units, charges and dates where we read them, and
its 999 acknowledgment flags the same segments our conformance notes name.
What the samples contain (read off the files by hand): ICD-9-CM codes under
BK/BF qualifiers (dates of service 1996-2016), imsweb diagnoses with qualifier
and code in separate elements, a 6-character procedure code, wrong SE01/GE01
counts, malformed PRV03 taxonomies, and seven LinuxForHealth files whose
composites use '>' while their ISA16 declares ':'.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

from claimscrub.inputs.base import InputFormatError, InputItem
from claimscrub.inputs.x12 import read_delimiters, read_x12
from claimscrub.model.normalize import claim_from_dict
from claimscrub.model.validate import problems

REPO = Path(__file__).resolve().parents[1]
SE_MANY = "segment 11488 (SE): SE01 says 25 segments but the transaction set (segments 3-11488) has 11486"


def sample_files(folder: Path) -> list[Path]:
    """Every 5010 sample (the 4010 folders and the licence texts left out)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and "LICENSE" not in p.name and "004010" not in str(p))


def sample(folder: Path, relative: str) -> Path:
    path = folder / relative
    if not path.is_file():
        pytest.skip(f"X12 sample {relative} not found under {folder}")
    return path


def read(path: Path) -> list[InputItem]:
    items = list(read_x12(path.read_bytes(), path.name))
    for item in items:
        assert (item.data is None) != (item.error is None), item
        if item.data is not None:
            assert problems(item.data) == [], (item.claim_id, problems(item.data))
            claim_from_dict(item.data, item.source)
        else:
            assert item.notes == ()
    return items


def clm_count(data: bytes) -> int:
    """CLM segments counted with the delimiters the ISA declares: independent of the reader's walk."""
    text = data.decode("latin-1").lstrip()
    delims = read_delimiters(text)
    return sum(1 for seg in text.split(delims.segment) if seg.strip().startswith("CLM" + delims.element))


def rules(item: InputItem) -> list[str]:
    return sorted({n.rule_id for n in item.notes})


# ---------------------------------------------------------------- accounting
def test_every_5010_sample_claim_is_accounted_for(x12_samples):
    """849 CLMs: each one item (read, or rejected with a reason), never an item without a claim."""
    total = Counter()
    for path in sample_files(x12_samples):
        data = path.read_bytes()
        items = read(path)
        assert len(items) == clm_count(data), path
        assert all(item.claim_id for item in items), path
        for item in items:
            total["read" if item.data is not None else "rejected"] += 1
            assert item.data is not None or item.error
    assert sum(total.values()) == 849
    # Every claim is read. (The 7 LFH claims whose composites use ">" where ISA16 says ":" carry CS-X12-004; the 410 imsweb claims
    # whose only line bills the six-digit code 478331 are read: CS-CODE-006 reports the code.)
    assert total == {"read": 849}


# file: [(claim id, None or the (segment, name, element) of a procedure composite written with '>' where
#        ISA16 says ':', conformance rule ids expected otherwise)]
SEPARATOR = "segment {} ({}): {}: composite uses '>' where ISA16 declares ':'; read with '>'"
LFH = {
    "837_005010X222A2/demo.ambulance.example5.837": [("051068", None, ["CS-X12-002", "CS-X12-003"])],
    "837_005010X222A2/demo.autoaccident.837": [("900000032", None, ["CS-X12-003"])],
    "837_005010X222A2/demo.cob.2ndary.example4.837": [("125WILL", (28, "SV1", "SV101"), [])],
    "837_005010X222A2/demo.cob.example3.A.837": [("26407789", None, ["CS-X12-003"])],
    "837_005010X222A2/demo.cob.example3.B.837": [("26407789", None, ["CS-X12-003"])],
    "837_005010X222A2/demo.cob.example3.C.837": [("26407789", None, ["CS-X12-003"])],
    "837_005010X222A2/demo.cob.example4.837": [("101KEN6055", None, ["CS-X12-003"])],
    "837_005010X222A2/demo.drug.example10.1.837": [("CLMNO12345", None, ["CS-X12-003"])],
    "837_005010X222A2/demo.drug.example10.2.837": [("CLMNO12345", None, ["CS-X12-003"])],
    "837_005010X222A2/demo.drug.example10.3.837": [("CLMNO12345", None, ["CS-X12-003"])],
    "837_005010X222A2/demo.example1.837": [("26463774", None, ["CS-X12-002", "CS-X12-003"])],
    "837_005010X222A2/demo.example11.837": [("ABC123-RI", (32, "SV1", "SV101"), [])],
    "837_005010X222A2/demo.example12.837": [("TS234H3", (39, "SV1", "SV101"), [])],
    "837_005010X222A2/demo.example2.837": [("26462967", None, ["CS-X12-002", "CS-X12-003"])],
    "837_005010X222A2/demo.example6.837": [("125WILL", (28, "SV1", "SV101"), [])],
    "837_005010X222A2/demo.example7.837": [("R03996273 #01", None, ["CS-X12-003"])],
    "837_005010X222A2/demo.example8.837": [("SMI123", None, ["CS-X12-003"])],
    "837_005010X222A2/demo.example9.837": [("153829140", (29, "SV1", "SV101"), [])],
    "837_005010X223A3/institutional-claim.837i": [("756048Q", None, ["CS-X12-002", "CS-X12-003"])],
    "837_005010X223A3/out-of-network-repriced-claim.837i": [("W392-49141", (31, "SV2", "SV202"), [])],
    "837_005010X223A3/ppo-repriced-claim.837i": [("456DFH43", (43, "SV2", "SV202"), [])],
    "837_005010X223A3/two-claims-single-provider.837i": [
        ("756048Q", None, ["CS-X12-003"]),
        ("756049Q", None, ["CS-X12-003"]),
    ],
}


@pytest.mark.parametrize("name", sorted(LFH))
def test_linuxforhealth_5010(x12_samples, name):
    items = read(sample(x12_samples, f"linuxforhealth/{name}"))
    assert [item.claim_id for item in items] == [cid for cid, _, _ in LFH[name]]
    for item, (_, rejected, expected) in zip(items, LFH[name], strict=True):
        if rejected is None:
            assert item.data is not None and rules(item) == expected, (item.error, rules(item))
            # dates of service 1996-2006: ICD-9-CM was right then, so a warning that it was not checked
            for note in item.notes:
                if note.rule_id == "CS-X12-003":
                    assert note.severity == "warning" and note.category == "code_validity"
                    assert re.fullmatch(
                        r"segment \d+ \(HI\): HI\d\d-1: ICD-9-CM qualifier B[KF] on a claim with dates of service "
                        r"before 2015-10-01: claimscrub checks ICD-10-CM codes only; .*",
                        note.message,
                    ), note.message
        else:  # read with '>' and reported: the claim is still scrubbed
            assert item.data is not None and item.error is None
            separator = [n.message for n in item.notes if n.rule_id == "CS-X12-004"]
            assert any(m.startswith(SEPARATOR.format(*rejected)) for m in separator), separator
            assert all(line["code"].isalnum() for line in item.data["lines"])


def test_linuxforhealth_icd9_codes_dropped_or_kept_and_pointers_follow(x12_samples):
    # HI*BK:0340*BF:V7389: 0340 cannot be ICD-10-CM in form; V7389 could, but without its principal
    # diagnosis it would be read as the principal one, so both go and no line points at a diagnosis
    (item,) = read(sample(x12_samples, "linuxforhealth/837_005010X222A2/demo.example1.837"))
    assert item.data["diagnoses"] == []
    assert all("diagnosis_pointers" not in line for line in item.data["lines"])
    messages = [n.message for n in item.notes]
    assert messages == [
        (
            "segment 9 (PRV): PRV03 taxonomy code must be 9 letters or digits then X (NUCC Health Care Provider "
            "Taxonomy); it is dropped from the claim"
        ),
        (
            "segment 29 (HI): HI01-1: ICD-9-CM qualifier BK on a claim with dates of service before 2015-10-01: "
            "claimscrub checks ICD-10-CM codes only; its code cannot be an ICD-10-CM code, so it is dropped"
        ),
        (
            "segment 29 (HI): HI02-1: ICD-9-CM qualifier BF on a claim with dates of service before 2015-10-01: "
            "claimscrub checks ICD-10-CM codes only; it is dropped with the principal one"
        ),
        (
            "segment 29 (HI): the principal diagnosis is dropped, so the 1 other diagnosis code(s) are dropped too "
            "(the first of them would be read as the principal one)"
        ),
    ]
    assert "taxonomy" not in item.data["billing_provider"]


# ---------------------------------------------------------------- imsweb
def test_imsweb_many_claims(x12_samples):
    items = read(sample(x12_samples, "imsweb/x12_many_claims.txt"))
    assert len(items) == 820
    assert [item.claim_id for item in items[:4]] == ["A37YH556", "A37YH667", "A37YH556", "A37YH667"]
    assert all(item.data is not None for item in items)
    six_digit = [item for item in items if item.data["lines"][0]["code"] == "478331"]
    assert len(six_digit) == 410 and {item.claim_id for item in six_digit} == {"A37YH667"}
    first = items[0]
    assert first.source == "x12_many_claims.txt:seg 22"
    assert [(n.rule_id, n.severity, n.message) for n in first.notes] == [
        ("CS-X12-004", "error", ("segment 23 (HI): HI01, HI02, HI03, HI04 have no component separator ':' (ISA16) "
         "between qualifier and code; qualifier and code seem to be in separate elements; their diagnoses are "
         "dropped")),
        ("CS-X12-003", "warning", ("segment 23 (HI): HI05-1: ICD-9-CM qualifier BF on a claim with dates of service "
         "before 2015-10-01: claimscrub checks ICD-10-CM codes only; its code cannot be an ICD-10-CM code, so it "
         "is dropped")),
        ("CS-X12-001", "error", SE_MANY),
    ]  # fmt: skip
    assert first.data["lines"] == [
        {"sequence": 1, "code": "99211", "modifiers": ["25"], "charge": "12.25", "units": 1, "place_of_service": "11",
         "from_date": "2005-03-14", "to_date": "2005-03-25"},
    ]  # fmt: skip
    assert all(SE_MANY in [n.message for n in item.notes] for item in items if item.claim_id == "A37YH556")
    second = items[1]
    assert second.error is None and second.data["lines"][0]["code"] == "478331"


def test_imsweb_complex(x12_samples):
    items = read(sample(x12_samples, "imsweb/x12_complex.txt"))
    assert [item.claim_id for item in items] == ["A37YH556", "A37YH667", "A37YH668"] * 2
    assert all(item.data is not None for item in items)
    first, second = items[0], items[3]
    assert [(n.rule_id, n.message) for n in first.notes if n.rule_id != "CS-X12-003"] == [
        ("CS-X12-002", ("segment 9 (PRV): PRV03 taxonomy code must be 9 letters or digits then X (NUCC Health Care "
         "Provider Taxonomy); it is dropped from the claim")),
        ("CS-X12-004", ("segment 28 (HI): HI01, HI02, HI03, HI04 have no component separator ':' (ISA16) between "
         "qualifier and code; qualifier and code seem to be in separate elements; their diagnoses are dropped")),
        ("CS-X12-001", "segment 149 (SE): SE01 says 25 segments but the transaction set (segments 3-149) has 147"),
        ("CS-X12-001", "segment 297 (GE): GE01 says 1 transaction sets, the group (segments 2-297) has 2"),
    ]  # fmt: skip
    envelope = [n.message for n in second.notes if n.rule_id == "CS-X12-001"]
    assert envelope == [
        "segment 296 (SE): SE01 says 26 segments but the transaction set (segments 150-296) has 147",
        "segment 297 (GE): GE01 says 1 transaction sets, the group (segments 2-297) has 2",
    ]
    assert items[1].data["lines"][0]["code"] == "478331"  # read; reported by CS-CODE-006


def _pyx12_999(path: Path) -> dict[str, tuple[list[tuple[str, int]], list[str]]]:
    """ST02 -> ([(IK3 segment id, position in the transaction set)], IK5 codes), from pyx12's 999."""
    x12n_document = pytest.importorskip("pyx12.x12n_document")
    pyx12_params = pytest.importorskip("pyx12.params")
    ack = io.StringIO()
    x12n_document.x12n_document(pyx12_params.params(), str(path), ack, None, None)
    found: dict[str, tuple[list, list]] = {}
    current = None
    for seg in (s.strip().split("*") for s in ack.getvalue().split("~")):
        if seg[0] == "AK2":
            current = found.setdefault(seg[2], ([], []))
        elif seg[0] == "IK3" and current is not None:
            current[0].append((seg[1], int(seg[2])))
        elif seg[0] == "IK5" and current is not None:
            current[1].extend(seg[2:])
        elif seg[0] == "AK9":
            found["AK9"] = ([], seg[5:])
    return found


def test_imsweb_complex_notes_agree_with_pyx12(x12_samples):
    """pyx12's 999 flags the SE counts (IK5 code 4), the GE count (AK9 code 5) and the HI segments we name."""
    path = sample(x12_samples, "imsweb/x12_complex.txt")
    oracle = _pyx12_999(path)
    assert "4" in oracle["987654"][1] and "4" in oracle["987655"][1]
    assert "5" in oracle["AK9"][1]
    items = read(path)
    st_start = {"987654": 3, "987655": 150}
    for item, st in zip((items[0], items[3]), st_start, strict=True):
        for note in item.notes:
            if note.rule_id in ("CS-X12-004", "CS-X12-003"):
                n = int(re.match(r"segment (\d+) \(HI\)", note.message).group(1))
                assert ("HI", n - st_start[st] + 1) in oracle[st][0], (note.message, oracle[st][0])


# ---------------------------------------------------------------- field values against pyx12
def _ours(item: InputItem) -> tuple[str, list[tuple]]:
    return item.claim_id, [
        (str(line["sequence"]), line["code"], line["charge"], float(line["units"]), line["from_date"].replace("-", ""))
        for line in item.data["lines"]
    ]


@pytest.mark.parametrize("name", [
    "837_005010X222A2/demo.drug.example10.3.837", "837_005010X222A2/demo.ambulance.example5.837",
    "837_005010X222A2/demo.cob.example3.A.837", "837_005010X223A3/two-claims-single-provider.837i",
])  # fmt: skip
def test_linuxforhealth_fields_agree_with_pyx12(x12_samples, name, tmp_path, pyx12_claims):
    path = sample(x12_samples, f"linuxforhealth/{name}")
    ours = [_ours(item) for item in read(path)]
    # pyx12 ships maps for 005010X222A1 and X223A2 only: the A2/A3 errata do not touch the segments read here
    copy = tmp_path / path.name
    copy.write_bytes(
        path.read_bytes().replace(b"005010X222A2", b"005010X222A1").replace(b"005010X223A3", b"005010X223A2")
    )
    oracle = pyx12_claims(copy)
    assert oracle and ours == oracle


def test_imsweb_fields_agree_with_pyx12(x12_samples, tmp_path, pyx12_claims):
    """The first 40 claims (pyx12 is slow): the read ones line for line; the rejected ones, by id."""
    path = sample(x12_samples, "imsweb/x12_many_claims.txt")
    text = path.read_text(encoding="latin-1")
    head = text[: text.index("HL*1**20*1~", text.index("CLM*", text.index("CLM*") + 1) + 20 * 700)]
    cut = tmp_path / "head.x12"
    cut.write_text(head + "SE*0*987654~GE*1*1~IEA*1*000000905~", encoding="latin-1")
    items = read(cut)
    oracle = pyx12_claims(cut)
    assert [cid for cid, _ in oracle] == [item.claim_id for item in items]
    compared = 0
    for item, expected in zip(items, oracle, strict=True):
        if item.data is not None:
            assert _ours(item) == expected
            compared += 1
    assert compared >= 10


def test_4010_samples_are_refused(x12_samples):
    files = sorted(p for p in x12_samples.rglob("*.837") if "004010" in str(p))
    assert len(files) == 11
    for path in files:
        with pytest.raises(InputFormatError, match=r"X12 004010 \(4010\) is not supported; convert to 005010"):
            list(read_x12(path.read_bytes(), path.name))


# ---------------------------------------------------------------- scrubbed end to end
@pytest.fixture(scope="module")
def scrubber(tmp_path_factory):
    from claimscrub.api.scrubber import Scrubber

    return Scrubber(data_dir=tmp_path_factory.mktemp("empty-data"))


def test_imsweb_scrubbed_end_to_end(x12_samples, scrubber):
    path = sample(x12_samples, "imsweb/x12_many_claims.txt")
    results = [scrubber.scrub(item) for item in read_x12(path.read_bytes(), path.name)]
    assert len(results) == 820
    status = Counter(r.status for r in results)
    assert status == {"scrubbed": 820}
    scrubbed = [r for r in results if r.status == "scrubbed"]
    bad_code = [r for r in results if any(f.rule_id == "CS-CODE-006" for f in r.findings)]
    assert len(bad_code) == 410 and {r.claim_id for r in bad_code} == {"A37YH667"}
    assert all("478331" in f.message for r in bad_code for f in r.findings if f.rule_id == "CS-CODE-006")
    for result in scrubbed:
        x12 = [(f.rule_id, f.category, f.severity) for f in result.findings if f.rule_id.startswith("CS-X12")]
        assert x12 == [("CS-X12-001", "claim_integrity", "error"), ("CS-X12-004", "claim_integrity", "error"),
                       ("CS-X12-003", "code_validity", "warning")]  # fmt: skip
    envelope = next(f for f in scrubbed[0].findings if f.rule_id == "CS-X12-001")
    assert envelope.message == SE_MANY and envelope.line is None and envelope.claim_id == "A37YH556"
    assert "SE Transaction Set Trailer" in envelope.citation and envelope.fix


def _cli(paths: list[Path], data_dir: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "claimscrub.cli.main", "scrub", *map(str, paths), "--format", "json", "--data-dir",
         str(data_dir), "--no-progress"], capture_output=True, cwd=REPO, timeout=600,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr.decode()
    return orjson.loads(proc.stdout)


def test_cli_scrubber_and_http_service_agree_on_every_sample_claim(x12_samples, scrubber, tmp_path):
    """All 849 claims through the CLI (worker processes), Scrubber.scrub, and the HTTP service: same findings."""
    files = sample_files(x12_samples)
    data_dir = tmp_path / "empty-data"
    data_dir.mkdir()
    cli = _cli(files, data_dir)
    assert len(cli["claims"]) == 849
    assert all(c["status"] == "scrubbed" or c["reason"] for c in cli["claims"])
    ours_claims, ours_findings = [], []
    for path in files:
        for item in read_x12(path.read_bytes(), str(path)):
            result = scrubber.scrub(item)
            ours_claims.append(result.as_dict())
            ours_findings.extend(f.as_dict() for f in result.findings)
    assert cli["claims"] == ours_claims
    assert orjson.loads(orjson.dumps(ours_findings)) == cli["findings"]
    assert {f["rule_id"] for f in cli["findings"]} >= {"CS-X12-001", "CS-X12-002", "CS-X12-003", "CS-X12-004"}

    pytest.importorskip("fastapi")
    service = pytest.importorskip("claimscrub.service.app")
    from fastapi.testclient import TestClient

    app = service.create_app(service.ServiceConfig(data_dir=str(data_dir), token="t0ken-for-tests-only"))
    served_claims, served_findings = [], []
    with TestClient(app) as client:
        for path in files:
            r = client.post(
                "/v1/scrub",
                content=path.read_bytes(),
                headers={"Authorization": "Bearer t0ken-for-tests-only", "Content-Type": "application/edi-x12"},
            )
            assert r.status_code == 200, (path, r.text)
            served_claims.extend(r.json()["claims"])
            served_findings.extend(r.json()["findings"])

    def strip(claims):
        return [{k: v for k, v in c.items() if k != "source"} for c in claims]

    assert strip(served_claims) == strip(cli["claims"])
    assert served_findings == cli["findings"]
