"""X12 5010 segments: delimiters, tokenizer, element and composite readers, and the envelope walker.

Shared by the 837 claim reader (:mod:`claimscrub.inputs.x12`) and the 835
remittance reader (:mod:`claimscrub.inputs.x835`), so both read delimiters the
same way and hold an interchange to the same envelope checks (SE/GE/IEA
counts and control numbers, missing trailers, truncated files). A transaction
reader subclasses :class:`EnvelopeWalker` and adds its own segment handlers;
its records are held until their interchange closes, because envelope problems
are only known at the trailer.

Hand-written rather than a generic X12 library: only the few segments a
reader needs are looked at, which keeps reading ~30x faster than a full parse.
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from claimscrub.inputs.base import InputFormatError, InputItem, Note
from claimscrub.model.numbers import MAX_QUANTITY, NumberError, cents_text, decimals, exact_number

_BOM = "\ufeff"
_MONEY = re.compile(r"-?[0-9]{1,9}(\.[0-9]{1,2})?")
SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}")
DROPPED = "CS-X12-002"  # an invalid element value the reader leaves out


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The separators an interchange declares in its own ISA segment."""

    element: str
    repetition: str | None
    component: str
    segment: str
    isa_length: int = 106  # characters up to and including the segment terminator (106 when conforming)


class Bad(Exception):
    """One claim-level problem: stops reading the element, not the file."""

    def __init__(self, field: str | None, message: str, rule_id: str = DROPPED):
        super().__init__(message)
        self.field = field
        self.message = message
        self.rule_id = rule_id  # the note it becomes when the reader can read past it


def is_x12(head: bytes) -> bool:
    """True when the bytes start like an X12 interchange (``ISA`` then a separator)."""
    head = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not head.startswith(b"ISA"):
        return False
    return len(head) < 4 or not chr(head[3]).isalnum()


def decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return text.lstrip(_BOM).lstrip()


def read_delimiters(text: str) -> Delimiters:
    """Delimiters from the ISA itself: element = char 3, ISA11, ISA16, the char after ISA16.

    Counting separators instead of fixed offsets tolerates ISA fields padded to
    the wrong width; the terminator may be a newline (then CR/LF pairs work too).
    """
    if not text.startswith("ISA") or len(text) < 4:
        raise InputFormatError("not an X12 interchange: the file does not start with an ISA segment")
    element = text[3]
    if element.isalnum() or element.isspace():
        raise InputFormatError("ISA segment: character 4 must be the element separator, found a letter, digit or space")
    at = 3
    for _ in range(15):
        at = text.find(element, at + 1)
        if at < 0:
            raise InputFormatError(
                "ISA segment is incomplete: fewer than 16 elements, so the delimiters cannot be read"
            )
    if at + 2 >= len(text):
        raise InputFormatError("ISA segment is incomplete: no component separator (ISA16) or segment terminator")
    component, segment = text[at + 1], text[at + 2]
    isa11 = text[:at].split(element)[11]
    repetition = isa11 if len(isa11) == 1 and not isa11.isalnum() and not isa11.isspace() else None
    if segment.isalnum() or segment == " ":
        raise InputFormatError(
            "ISA segment: the character after ISA16 must be the segment terminator, found a letter, digit or space"
        )
    if len({element, component, segment}) < 3:
        raise InputFormatError("ISA segment: element, component and segment separators must all differ")
    return Delimiters(element=element, repetition=repetition, component=component, segment=segment, isa_length=at + 3)


def split_segments(text: str, delims: Delimiters) -> tuple[list[str], bool]:
    """Segments without blank ones or CR/LF padding; and whether the last one was terminated."""
    raw = text.split(delims.segment)
    tail = raw[-1].strip("\r\n\t ")
    terminated = tail == ""
    return [s for s in (x.strip("\r\n") for x in raw) if s], terminated


def _refuse_4010(segs: list[str], element: str) -> None:
    isa = segs[0].split(element)
    if el(isa, 12) == "00401":
        raise InputFormatError("X12 004010 (4010) is not supported; convert to 005010 (ISA12 is 00401)")
    for text in segs:
        if text.startswith("GS" + element) and el(text.split(element), 8).startswith("004010"):
            raise InputFormatError("X12 004010 (4010) is not supported; convert to 005010 (GS08 is 004010)")


def tokenize(data: bytes, source: str, transaction: str, kind: str) -> tuple[Delimiters, list[str], bool]:
    """Delimiters, segments and whether the last one was terminated, of a 5010 file holding
    ``transaction`` (837, 835) sets; InputFormatError naming ``source`` when the whole file is unusable."""
    text = decode(data)
    try:
        delims = read_delimiters(text)
        segs, terminated = split_segments(text, delims)
        if len(segs) < 2:
            raise InputFormatError(
                f"the segment terminator {delims.segment!r} declared after ISA16 is not used in the file; "
                "wrong delimiters or not an X12 file"
            )
        _refuse_4010(segs, delims.element)
        start = delims.element
        if not any(s.startswith(f"ST{start}{transaction}") for s in segs):
            raise InputFormatError(
                f"no {transaction} transaction set (ST{start}{transaction}) found; not a {kind} file, or the segment "
                f"terminator {delims.segment!r} declared after ISA16 is not the one the file uses"
            )
    except InputFormatError as exc:
        raise InputFormatError(f"{source}: {exc}") from None
    return delims, segs, terminated


# ---------------------------------------------------------------- value readers
@functools.lru_cache(maxsize=8192)
def iso(raw: str) -> str | None:
    """CCYYMMDD -> ISO date when it is a calendar date (cached: a file repeats its dates)."""
    if len(raw) != 8 or not raw.isdigit():
        return None
    try:
        return _dt.date(int(raw[:4]), int(raw[4:6]), int(raw[6:])).isoformat()
    except ValueError:
        return None


def d8(raw: str, where: str, field: str | None) -> str:
    day = iso(raw)
    if day is None:
        if len(raw) != 8 or not raw.isdigit():
            raise Bad(field, f"{where}: date must be CCYYMMDD")
        raise Bad(field, f"{where}: not a calendar date")
    return day


def shown(value: str) -> str:
    """A code value for an error message: only short codes, so a misaligned
    element can never put a name or member id into the text."""
    return repr(value) if len(value) <= 3 else "a longer value"


def period(fmt: str, raw: str, where: str, field: str | None) -> tuple[str, str]:
    """DTP02/DTP03 -> (from, to); D8, RD8 and DT (date and time) are accepted."""
    if fmt == "D8":
        day = d8(raw, where, field)
        return day, day
    if fmt == "RD8":
        start, sep, end = raw.partition("-")
        if not sep:
            raise Bad(field, f"{where}: RD8 range must be CCYYMMDD-CCYYMMDD")
        first, last = d8(start, where, field), d8(end, where, field)
        if last < first:
            raise Bad(field, f"{where}: RD8 range ends before it starts")
        return first, last
    if fmt == "DT":
        day = d8(raw[:8], where, field)
        return day, day
    raise Bad(field, f"{where}: date format qualifier {shown(fmt)} is not D8, RD8 or DT")


def money(raw: str, where: str, field: str) -> str:
    """X12 decimal -> exact decimal string with at most two decimals (never a float); bounded parsing."""
    if _MONEY.fullmatch(raw):
        return raw
    try:
        return cents_text(exact_number(raw))
    except NumberError as exc:
        raise Bad(field, f"{where}: amount {exc.problem}") from None


def quantity(raw: str, where: str, field: str) -> int | float:
    """Units as a JSON number: int when whole, else the float of the decimal text (at most 3 decimals)."""
    if raw.isdigit() and len(raw) <= 15:
        return int(raw)
    try:
        amount = exact_number(raw, MAX_QUANTITY)
    except NumberError as exc:
        raise Bad(field, f"{where}: quantity {exc.problem}") from None
    if decimals(amount) > 3:
        raise Bad(field, f"{where}: quantity has more than three decimals")
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def el(seg: list[str], i: int) -> str:
    return seg[i] if len(seg) > i else ""


# ---------------------------------------------------------------- composites under another separator
# Likely component separators, to name the one a file really uses when it is not ISA16's.
_SEPARATOR_CHARS = frozenset(">:^|\\!<{}+~`")


def other_separator(value: str, comp: str) -> str | None:
    """The separator-like character a composite holds instead of ISA16's, if any."""
    return next((c for c in value if c in _SEPARATOR_CHARS and c != comp), None)


def read_with_other(value: str, comp: str, expected: Callable[[list[str]], bool]) -> tuple[list[str], str] | None:
    """A composite ISA16 cannot split ("HC>98940" under ':') whose other separator-like character gives
    the parts expected there (a known qualifier first): unambiguous, so it is read, and reported by the
    caller. None when ISA16 splits it or the other reading is not what the element holds."""
    if comp in value:
        return None
    other = other_separator(value, comp)
    if other is None:
        return None
    parts = value.split(other)
    return (parts, other) if expected(parts) else None


def seems_to_use(value: str, comp: str) -> str:
    """' (it seems to use '>')' when a composite holds another separator-like character."""
    other = other_separator(value, comp)
    return f" (it seems to use {other!r})" if other else ""


# ---------------------------------------------------------------- envelope walker
class Held(Protocol):
    """What a walker holds until its interchange closes: a record that may carry notes."""

    data: Any
    notes: tuple[Note, ...]


@dataclass(slots=True)
class Group:
    """One GS functional group / ST transaction set context."""

    version: str
    control: str
    st_count: int = 0


class EnvelopeWalker:
    """State machine over one file's segments: the ISA/GS/ST envelope and its checks.

    A subclass reads its transaction's segments (``segment_handlers``), builds a
    record per claim (``close_claim``) and holds it (``hold``); envelope defects
    become notes on every held record of the envelope they concern.
    """

    def __init__(self, source: str, delims: Delimiters):
        self.source = source
        self.comp = delims.component
        self.elem = delims.element
        # records held until their interchange closes, with the envelopes they sit in
        self.held: list[tuple[Held, int, int, int]] = []
        self.isa_no = self.gs_no = self.st_no = 0
        self.isa_notes: list[Note] = []  # known at the ISA, for every claim of the interchange
        self.st_notes: list[Note] = []  # known in the header, for every claim of the transaction set
        self.isa_length = delims.isa_length
        self.isa_control: str | None = None
        self.isa_seg = 0
        self.gs_count = 0
        self.group: Group | None = None
        self.group_seg = 0
        self.st_seg = 0
        self.st_control: str | None = None
        self.st_ok = False
        self.loop = ""
        self.claim: Any = None  # the claim being read, when there is one

    # ------------------------------------------------------------ what a transaction reader provides
    def segment_handlers(self) -> dict[str, Callable[[int, list[str]], None]]:
        raise NotImplementedError

    def envelope_defect(self, message: str) -> Note:
        """The note an envelope defect becomes (rule, citation of the transaction's TR3)."""
        raise NotImplementedError

    def failed(self, source: str, message: str) -> Held:
        """A record for a problem no claim can carry."""
        return InputItem.failed(source, None, message)

    def transaction(self, n: int, seg: list[str], version: str) -> None:
        """An ST opened: check it is the reader's transaction and reset the header state."""
        raise NotImplementedError

    def close_claim(self) -> None:
        raise NotImplementedError

    def problem(self, n: int, bad: Bad) -> None:
        raise NotImplementedError

    def unreadable(self, n: int, text: str) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ output
    def hold(self, item: Held) -> None:
        self.held.append((item, self.isa_no, self.gs_no, self.st_no))

    def envelope_error(self, seg_no: int, message: str) -> None:
        """A problem no claim can carry (not the reader's transaction, a trailer with no header): on its own."""
        self.hold(self.failed(f"{self.source}:seg {seg_no}", message))

    def envelope_note(self, seg_no: int, message: str, level: str, number: int) -> None:
        """An envelope defect (SE/GE/IEA counts, control numbers, missing trailers) on each readable
        claim of the envelope it concerns; on its own when that envelope holds no readable claim."""
        index = {"isa": 1, "gs": 2, "st": 3}[level]
        note = self.envelope_defect(message)
        found = False
        for item, *scope in self.held:
            if item.data is not None and scope[index - 1] == number:
                item.notes = (*item.notes, note)
                found = True
        if not found:
            self.envelope_error(seg_no, message)

    # ------------------------------------------------------------ driver
    def walk(self, segs: list[str], terminated: bool) -> Iterator[Any]:
        handlers = {
            "ISA": self.isa, "IEA": self.iea, "GS": self.gs, "GE": self.ge, "ST": self.st, "SE": self.se,
            **self.segment_handlers(),
        }  # fmt: skip
        elem = self.elem
        last = len(segs)
        for n, text in enumerate(segs, 1):
            seg = text.split(elem)
            name = seg[0]
            handler = handlers.get(name)
            if handler is not None:
                try:
                    handler(n, seg)
                except Bad as bad:
                    self.problem(n, bad)
            elif not SEGMENT_ID.fullmatch(name):
                self.unreadable(n, text)
            if n == last and not terminated and name != "IEA":
                self.truncated(n, f"segment {n}: the file ends in the middle of this segment (no terminator)")
                break
            if name == "IEA" and self.held:
                yield from (item for item, *_ in self.held)
                self.held.clear()
        else:
            if self.claim is not None or self.st_control is not None or self.group is not None or self.isa_control:
                self.truncated(last, f"segment {last}: the file ends without closing SE/GE/IEA (truncated file?)")
        yield from (item for item, *_ in self.held)
        self.held.clear()

    def truncated(self, n: int, message: str) -> None:
        if self.claim is not None:
            self.claim.problems.append((None, f"{message}; the claim may be incomplete, so it is not read"))
            self.close_claim()
        if self.isa_control is not None or self.group is not None or self.st_control is not None:
            self.envelope_note(n, f"{message}; the interchange that holds this claim is incomplete", "isa", self.isa_no)
        else:
            self.envelope_error(n, message)
        self.st_control = None
        self.group = None
        self.isa_control = None

    # ------------------------------------------------------------ envelope
    def isa(self, n: int, seg: list[str]) -> None:
        if self.isa_control is not None:
            self.envelope_note(
                n, f"segment {n} (ISA): the interchange that starts at segment {self.isa_seg} has no IEA",
                "isa", self.isa_no,
            )  # fmt: skip
        self.isa_no += 1
        self.isa_notes = []
        if len(seg) != 17:
            self.isa_notes.append(self.envelope_defect(f"segment {n} (ISA): has {len(seg) - 1} elements, expected 16"))
        elif n == 1 and self.isa_length != 106:
            self.isa_notes.append(
                self.envelope_defect(
                    f"segment 1 (ISA): is {self.isa_length} characters long with its terminator, not 106; "
                    "ISA elements have fixed widths (pad with spaces), and a reader that takes the separators "
                    "from fixed positions would misread this file",
                )
            )
        self.isa_control = el(seg, 13)
        self.isa_seg = n
        self.gs_count = 0

    def iea(self, n: int, seg: list[str]) -> None:
        self.close_claim()
        self.loop = ""
        if self.isa_control is None:
            self.envelope_error(n, f"segment {n} (IEA): IEA without an ISA")
            return
        if el(seg, 1) != str(self.gs_count):
            self.envelope_note(
                n,
                f"segment {n} (IEA): IEA01 says {el(seg, 1) or 'nothing'} functional groups, "
                f"the interchange (segments {self.isa_seg}-{n}) has {self.gs_count}",
                "isa", self.isa_no,
            )  # fmt: skip
        if el(seg, 2) != self.isa_control:
            self.envelope_note(n, f"segment {n} (IEA): IEA02 control number does not match ISA13", "isa", self.isa_no)
        self.isa_control = None

    def gs(self, n: int, seg: list[str]) -> None:
        if self.group is not None:
            self.envelope_note(
                n, f"segment {n} (GS): the functional group that starts at segment {self.group_seg} has no GE",
                "gs", self.gs_no,
            )  # fmt: skip
        self.gs_no += 1
        self.gs_count += 1
        self.group = Group(version=el(seg, 8), control=el(seg, 6))
        self.group_seg = n

    def ge(self, n: int, seg: list[str]) -> None:
        self.close_claim()
        self.loop = ""
        if self.group is None:
            self.envelope_error(n, f"segment {n} (GE): GE without a GS")
            return
        if el(seg, 1) != str(self.group.st_count):
            self.envelope_note(
                n,
                f"segment {n} (GE): GE01 says {el(seg, 1) or 'nothing'} transaction sets, "
                f"the group (segments {self.group_seg}-{n}) has {self.group.st_count}",
                "gs", self.gs_no,
            )  # fmt: skip
        if el(seg, 2) != self.group.control:
            self.envelope_note(n, f"segment {n} (GE): GE02 control number does not match GS06", "gs", self.gs_no)
        self.group = None

    def st(self, n: int, seg: list[str]) -> None:
        self.close_claim()
        if self.st_control is not None:
            self.envelope_note(
                n, f"segment {n} (ST): the transaction set that starts at segment {self.st_seg} has no SE",
                "st", self.st_no,
            )  # fmt: skip
        self.st_no += 1
        self.st_notes = []
        self.st_seg = n
        self.st_control = el(seg, 2)
        self.loop = "header"
        if self.group is None:
            self.st_notes.append(
                self.envelope_defect(f"segment {n} (ST): transaction set outside a GS functional group")
            )
            version = el(seg, 3)
        else:
            self.group.st_count += 1
            version = el(seg, 3) or self.group.version
        self.transaction(n, seg, version)

    def se(self, n: int, seg: list[str]) -> None:
        self.close_claim()
        if self.st_control is None:
            self.envelope_error(n, f"segment {n} (SE): SE without an ST")
            return
        count = n - self.st_seg + 1
        if el(seg, 1) != str(count):
            self.envelope_note(
                n,
                f"segment {n} (SE): SE01 says {el(seg, 1) or 'nothing'} segments but the transaction set "
                f"(segments {self.st_seg}-{n}) has {count}",
                "st", self.st_no,
            )  # fmt: skip
        if el(seg, 2) != self.st_control:
            self.envelope_note(n, f"segment {n} (SE): SE02 control number does not match ST02", "st", self.st_no)
        self.st_control = None
        self.st_ok = False
        self.loop = ""
