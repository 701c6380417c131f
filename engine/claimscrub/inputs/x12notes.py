"""The conformance notes of the 837 reader (CS-X12-001..004): what a defect the reader can read past becomes.

Each rule id has its category, title, fix and citation here, in one place, so
every segment reader makes the same note for the same defect; the README's X12
section documents the same table.
"""

from __future__ import annotations

from claimscrub.inputs.base import Note
from claimscrub.inputs.x12seg import DROPPED

__all__ = ["COMPOSITE", "DROPPED", "ENVELOPE", "ICD9", "ICD10_FROM", "KEPT_AS_GIVEN", "NOTE_RULES", "make_note"]

# ICD-10-CM replaced ICD-9-CM for dates of service from this day (45 CFR 162.1002).
ICD10_FROM = "2015-10-01"
# An ICD-9 note's ending while the claim is read; the assembler rewrites it when the principal goes.
KEPT_AS_GIVEN = "its code is kept as given"

_TR3 = "ASC X12 005010X222A1 (837P) / 005010X223A2 (837I) TR3"
ENVELOPE = "CS-X12-001"
ICD9 = "CS-X12-003"
COMPOSITE = "CS-X12-004"
# rule id -> (category, title, fix, citation): stable, documented in the README's X12 section.
NOTE_RULES: dict[str, tuple[str, str, str, str]] = {
    ENVELOPE: (
        "claim_integrity",
        "X12 envelope does not match its contents",
        (
            "Have the software that writes the file recount the segments (SE01), transaction sets (GE01) and "
            "functional groups (IEA01), repeat the control numbers in the trailers, and close every envelope; "
            "a clearinghouse rejects the whole transaction set otherwise."
        ),
        f"{_TR3}: SE Transaction Set Trailer (SE01, SE02); Appendix B EDI Control Directory (GE, IEA)",
    ),
    DROPPED: (
        "claim_integrity",
        "Invalid X12 element value dropped",
        "Correct the element named in the message; until then the claim was scrubbed without it.",
        f"{_TR3}: segment and element notes",
    ),
    ICD9: (
        "code_validity",
        "ICD-9-CM diagnosis qualifier",
        "Code the diagnoses in ICD-10-CM with qualifiers ABK (principal) and ABF (other).",
        f"{_TR3}: 2300 HI Health Care Diagnosis Code (ABK/ABF); 45 CFR 162.1002 (ICD-10-CM from 2015-10-01)",
    ),
    COMPOSITE: (
        "claim_integrity",
        "Composite unreadable with the ISA16 component separator",
        (
            "Separate the components of composite elements with the character ISA16 declares (or declare the "
            "one the file uses in ISA16)."
        ),
        f"{_TR3}: Appendix A ASC X12 Nomenclature, Delimiters; ISA16 Component Element Separator",
    ),
}


def make_note(
    rule_id: str,
    message: str,
    *,
    severity: str = "error",
    line: int | None = None,
    field: str | None = None,
    fix: str | None = None,
) -> Note:
    """A conformance note with its rule's category, title, fix and citation."""
    category, title, default_fix, citation = NOTE_RULES[rule_id]
    return Note(rule_id, category, severity, title, message, fix or default_fix, citation, line, field)
