"""``claimscrub audit``: the record-review workflow over one audit folder (see audit_reports/README.md).

universe -> sample (or probe + sample-size) -> review (proposals, worksheet) -> review --import
(determinations; --qa for the peer review) -> appraise. Each command checks the folder's frame
against the hash in design.yaml and appends what it ran to audit.log.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
import orjson

from claimscrub.audit.design import AuditError

if TYPE_CHECKING:
    from claimscrub.inputs.payments import PaidClaims

UNITS = ("claim", "line", "beneficiary")


@click.group()
def audit() -> None:
    """Record review: claim universes, reproducible samples, determinations and the appraisal."""


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _folder(path: str) -> Path:
    folder = Path(path)
    if not (folder / "design.yaml").is_file():
        _fail(f"{folder} is not an audit folder (no design.yaml); start with 'claimscrub audit universe'")
    return folder


def _need_stats() -> None:
    """Sampling and appraisal need numpy and scipy (the optional 'audit' extra)."""
    try:
        import numpy  # noqa: F401
        import scipy  # noqa: F401
    except ImportError:
        _fail("sampling and appraisal need numpy and scipy: pip install 'claimscrub[audit]'")


def _invocation() -> list[str]:
    """The running command and its options, for audit.log (paths, numbers, names; never claim data)."""
    ctx = click.get_current_context()
    return [
        ctx.command_path,
        orjson.dumps({k: v for k, v in ctx.params.items() if v not in (None, (), False)}).decode(),
    ]


def _read_universe(paths: tuple[str, ...]) -> PaidClaims:
    """The claims of the universe with what was paid: claim files of any format, X12 835 remittances
    linked to their 837 claims, CMS RIF extracts and FHIR EOBs (claimscrub.inputs.payments)."""
    from claimscrub.inputs.payments import read_paid_claims
    from claimscrub.refdata.store import open_tables

    return read_paid_claims(paths, tables=open_tables(None))


def _write_links(folder: Path, paid: PaidClaims) -> None:
    """What did not link, for the second auditor: remittances with no claim, claims with no payment."""
    document = {
        "unlinked_remittances": [dataclasses.asdict(r) for r in paid.unlinked_remittances],
        "unpaid_claims": paid.unpaid_claims,
        "notes": paid.notes,
    }
    (folder / "links.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")


@audit.command("universe")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(file_okay=False),
    envvar="AUDIT_DIR",
    help="The audit folder (created), e.g. audit_reports/<name>.",
)
@click.option("--unit", type=click.Choice(UNITS), default="claim", show_default=True, help="The sampling unit.")
@click.option("--provider", "provider", help="Only claims of this billing provider NPI.")
@click.option("--from", "date_from", help="Only claims whose first service date is on or after (YYYY-MM-DD).")
@click.option("--to", "date_to", help="Only claims whose first service date is on or before (YYYY-MM-DD).")
@click.option("--name", help="The audit's name (default: the folder's name).")
def universe(
    paths: tuple[str, ...],
    out: str,
    unit: str,
    provider: str | None,
    date_from: str | None,
    date_to: str | None,
    name: str | None,
) -> None:
    """Write the sampling frame of the paid claims in PATHS: frame.csv, its hash, excluded.csv, design.yaml."""
    from claimscrub.api.scrubber import batch_gc
    from claimscrub.audit.design import log_command, new_design, write_design
    from claimscrub.audit.frame import Scope, build_frame, write_frame

    folder = Path(out)
    if (folder / "sample.csv").exists():
        _fail(f"{folder} already holds a sample: a new universe needs a new audit folder")
    batch_gc()  # a frame holds a unit per claim and no reference cycles: see batch_gc
    paid = _read_universe(paths)
    if paid.unreadable:  # a universe missing a file's claims would be sampled as if it were whole
        for message in paid.unreadable:
            click.echo(f"input error: {message}", err=True)
        _fail("some inputs could not be read: no frame written")
    frame = build_frame(paid.items, unit, Scope(provider, date_from, date_to))
    folder.mkdir(parents=True, exist_ok=True)
    digest = write_frame(folder, frame)
    _write_links(folder, paid)
    design = new_design(name or folder.name, list(paths), frame, digest)
    write_design(folder, design)
    log_command(folder, _invocation())
    f = design["frame"]
    click.echo(
        f"frame: {f['units']} {unit} unit(s), paid {f['paid_total']}; excluded {f['excluded']['units']} "
        f"(paid {f['excluded']['paid_total']}, see excluded.csv); outside the scope {frame.out_of_scope}; "
        f"sha256 {digest}"
    )
    if paid.unlinked_remittances or paid.unpaid_claims:
        click.echo(
            f"links: {len(paid.unlinked_remittances)} remittance(s) with no claim, "
            f"{len(paid.unpaid_claims)} claim(s) with no payment (see links.json)"
        )


@audit.command("sample")
@click.argument("folder")
@click.option("--size", type=int, required=True, help="Units to draw at random (certainty units come on top).")
@click.option("--seed", type=int, required=True, help="The random seed (write it down: it re-draws the sample).")
@click.option("--method", type=click.Choice(["srs", "stratified", "probe"]), default="srs", show_default=True)
@click.option("--strata", help="Stratum boundaries in dollars, ascending, comma-separated (stratified).")
@click.option("--strata-count", type=int, help="Number of strata when the boundaries are computed.")
@click.option(
    "--boundaries",
    type=click.Choice(["equal-dollar", "cum-sqrt-f"]),
    default="cum-sqrt-f",
    show_default=True,
    help="How computed boundaries are found.",
)
@click.option("--allocation", type=click.Choice(["proportional", "neyman"]), default="proportional", show_default=True)
@click.option("--certainty-threshold", help="Dollars: every unit paid at least this much is reviewed (stratified).")
@click.option("--force", is_flag=True, help="Replace a sample already drawn (before any review).")
def sample_cmd(
    folder: str,
    size: int,
    seed: int,
    method: str,
    strata: str | None,
    strata_count: int | None,
    boundaries: str,
    allocation: str,
    certainty_threshold: str | None,
    force: bool,
) -> None:
    """Draw the sample from the frame (fixed, documented generator) and write sample.csv."""
    _need_stats()
    from claimscrub.audit.design import check_frame, log_command, read_design, write_design
    from claimscrub.audit.frame import read_frame
    from claimscrub.audit.money import MoneyError, cents_of
    from claimscrub.audit.sample import DesignError, draw_sample, sample_csv

    path = _folder(folder)
    try:
        design = read_design(path)
        check_frame(path, design)
        if (path / "determinations.csv").exists() or ((path / "sample.csv").exists() and not force):
            raise AuditError(
                "a sample was already drawn"
                + (" and reviewed" if (path / "determinations.csv").exists() else "; --force replaces it")
            )
        table = read_frame(path / "frame.csv")
        cuts = [cents_of(b) for b in strata.split(",")] if strata else None
        threshold = cents_of(certainty_threshold) if certainty_threshold else None
        spec, selected, strata_list = draw_sample(
            table.paid_cents,
            method=method,
            size=size,
            seed=seed,
            cuts=cuts,
            strata_count=strata_count,
            boundary_rule=boundaries,
            allocation=allocation,
            certainty_cents=threshold,
        )
    except (AuditError, DesignError, MoneyError, ValueError) as exc:
        _fail(str(exc))
    (path / "sample.csv").write_bytes(sample_csv(selected, table))
    design["sample"] = {**spec, "frame_sha256": design["frame"]["sha256"]}  # the frame it was drawn from
    write_design(path, design)
    log_command(path, _invocation())
    click.echo(
        f"sample: {len(selected)} unit(s) in {len(strata_list)} stratum/strata ({method}, seed {seed}); "
        f"wrote {path / 'sample.csv'}"
    )
    for s in strata_list:
        d = s.as_dict()
        click.echo(
            f"  stratum {d['id']}: [{d['lower'] or '-'}, {d['upper'] or '-'}) N={d['units']} "
            f"paid={d['paid_total']} n={d['sample_size']}{' certainty' if d['certainty'] else ''}"
        )


@audit.command("sample-size")
@click.argument("folder")
@click.option(
    "--probe",
    "probe",
    required=True,
    type=click.Path(file_okay=False),
    help="A reviewed probe audit folder (sampled with --method probe, determinations imported).",
)
@click.option(
    "--precision",
    type=float,
    default=0.10,
    show_default=True,
    help="Target half-width of the two-sided interval, as a fraction of the estimated overpayment.",
)
@click.option("--confidence", type=float, default=0.90, show_default=True)
def sample_size(folder: str, probe: str, precision: float, confidence: float) -> None:
    """The SRS size that reaches PRECISION at CONFIDENCE, from the probe's overpayment variance."""
    _need_stats()
    from claimscrub.audit.appraisal import read_sample
    from claimscrub.audit.design import read_design
    from claimscrub.audit.determinations import read_state
    from claimscrub.audit.money import cents_of
    from claimscrub.audit.sample import DesignError, srs_sample_size

    path, probe_path = _folder(folder), _folder(probe)
    try:
        design, probe_design = read_design(path), read_design(probe_path)
        if probe_design["frame"]["sha256"] != design["frame"]["sha256"]:
            raise AuditError("the probe was drawn from another frame: a probe's variance sizes only its own universe")
        universe_units = int(design["frame"]["units"])
        state = read_state(probe_path)
        if any(r["determination"] == "not_reviewed" for r in state):
            raise AuditError("the probe has lines without a determination: import its worksheet first")
        over: dict[str, int] = {}
        for r in state:
            if r["determination"] == "overpaid":
                over[r["sample_no"]] = over.get(r["sample_no"], 0) + cents_of(r["amount"])
        values = [over.get(u["sample_no"], 0) / 100 for u in read_sample(probe_path)]
        result = srs_sample_size(values, universe_units, precision, confidence)
    except (AuditError, DesignError) as exc:
        _fail(str(exc))
    click.echo(
        f"n = {result['n']} of {universe_units} units for {precision:.0%} precision at {confidence:.0%} "
        f"confidence (probe: {len(values)} units, mean overpayment {result['mean']:.2f}, sd {result['sd']:.2f}"
        + (f", t {result['t']:.4f}" if result["t"] else "")
        + ")"
        + (f"; {result['note']}" if result["note"] else "")
    )


def _sampled_units(path: Path, design: dict[str, Any]) -> list[Any]:
    from claimscrub.audit.appraisal import read_sample
    from claimscrub.audit.money import cents_of
    from claimscrub.audit.review import SampledUnit

    out = []
    for row in read_sample(path):
        line = int(row["unit_id"].rsplit(":", 1)[1]) if design["unit"] == "line" else None
        out.append(
            SampledUnit(
                int(row["sample_no"]),
                int(row["stratum"]),
                row["unit_id"],
                tuple(row["claim_id"].split(";")),
                line,
                cents_of(row["paid_amount"]),
            )
        )
    return out


@audit.command("review")
@click.argument("folder")
@click.argument("paths", nargs=-1)
@click.option(
    "--import",
    "import_file",
    type=click.Path(exists=True, dir_okay=False),
    help="A completed worksheet (.xlsx or .csv) to record as determinations.",
)
@click.option("--qa", is_flag=True, help="With --import: record a second reviewer's qa_verdict / qa_note per line.")
@click.option("--accept-proposed", is_flag=True, help="Record the proposals as REVIEWER's determinations.")
@click.option("--reviewer", help="Who made the determinations (required with --import / --accept-proposed).")
@click.option("--rules", multiple=True, type=click.Path(exists=True), help="Extra rule pack directory.")
@click.option("--data-dir", type=click.Path(), envvar="CLAIMSCRUB_DATA_DIR")
@click.option("--samples/--no-samples", default=None, help="Use the bundled sample tables.")
def review_cmd(
    folder: str,
    paths: tuple[str, ...],
    import_file: str | None,
    qa: bool,
    accept_proposed: bool,
    reviewer: str | None,
    rules: tuple[str, ...],
    data_dir: str | None,
    samples: bool | None,
) -> None:
    """Scrub the sampled claims in PATHS (with their encounter records) and write the worksheet; or record edits."""
    from claimscrub.audit.design import check_frame, log_command, read_design

    path = _folder(folder)
    try:
        design = read_design(path)
        check_frame(path, design)
        if import_file or accept_proposed:
            if not reviewer:
                raise AuditError("--reviewer NAME is required to record determinations")
            _record(path, import_file, qa, accept_proposed, reviewer)
        else:
            if not paths:
                raise AuditError("give the claims (and encounter records) to review, or --import a worksheet")
            _review(path, design, paths, rules, data_dir, samples)
    except AuditError as exc:
        _fail(str(exc))
    log_command(path, _invocation())


def _review(
    path: Path,
    design: dict[str, Any],
    paths: tuple[str, ...],
    rules: tuple[str, ...],
    data_dir: str | None,
    samples: bool | None,
) -> None:
    from claimscrub import __version__
    from claimscrub.api.scrubber import RulesError, Scrubber
    from claimscrub.audit.design import require_sample
    from claimscrub.audit.determinations import append_log, initial_state, proposed_entries, read_log, write_state
    from claimscrub.audit.proposals import mapping_path
    from claimscrub.audit.review import review_claims
    from claimscrub.audit.worksheet import worksheet_csv, write_xlsx
    from claimscrub.cli.scrubbing import read_inputs as _items

    require_sample(design)
    if any(e["kind"] in ("review", "qa") for e in read_log(path)):
        raise AuditError("determinations were already recorded: the review's proposals are not redone over them")
    try:
        scrubber = Scrubber(rules=list(rules), data_dir=data_dir, samples=samples)
    except RulesError as exc:
        raise AuditError(f"rules have errors: {exc}") from None
    items, errors, side = _items(paths)
    records_given = bool(side.mentions_encounters)
    result = review_claims(_sampled_units(path, design), items, scrubber, records_given)
    (path / "review.json").write_bytes(
        orjson.dumps(result.document(scrubber, records_given), option=orjson.OPT_INDENT_2)
    )
    (path / "worksheet.csv").write_bytes(worksheet_csv(result.rows))
    write_xlsx(path / "worksheet.xlsx", result.rows)
    write_state(path, initial_state(result.rows))
    shutil.copyfile(mapping_path(), path / mapping_path().name)  # the finding-to-category mapping used
    append_log(path, proposed_entries(result.rows, f"claimscrub {__version__}"))
    proposed = [r for r in result.rows if r["proposed_determination"] in ("overpaid", "underpaid")]
    rejected = sum(c["status"] == "rejected" for c in result.claims)
    click.echo(
        f"review: {len(result.claims)} claim(s) ({rejected} rejected), {len(result.rows)} line(s); "
        f"{len(proposed)} proposed in error; worksheet: {path / 'worksheet.xlsx'} and worksheet.csv"
    )
    for message in errors:
        click.echo(f"input error: {message}", err=True)


def _record(path: Path, import_file: str | None, qa: bool, accept_proposed: bool, reviewer: str) -> None:
    from claimscrub.audit.determinations import (
        append_log,
        apply_edits,
        disagreements,
        key_of,
        proposals_as_edits,
        read_state,
        write_state,
    )
    from claimscrub.audit.money import cents_of
    from claimscrub.audit.worksheet import WorksheetError, read_rows, validate_qa, validate_review

    state = read_state(path)
    known = {key_of(r): cents_of(r["paid_amount"]) if r["paid_amount"] else 0 for r in state}
    if accept_proposed:
        import csv

        with open(path / "worksheet.csv", newline="") as fh:
            edits = proposals_as_edits(csv.DictReader(fh))
        kind = "review"
    else:
        assert import_file is not None
        try:
            _, rows = read_rows(Path(import_file), qa)
            edits = validate_qa(rows, known) if qa else validate_review(rows, known)
        except WorksheetError as exc:
            raise AuditError(str(exc)) from None
        kind = "qa" if qa else "review"
    entries = apply_edits(state, edits, kind, reviewer)
    write_state(path, state)
    append_log(path, entries)
    click.echo(f"recorded {len(entries)} change(s) by {reviewer} ({kind}) in determinations.jsonl")
    if qa:
        for row in disagreements(state):
            click.echo(f"  disagree: claim {row['claim_id']} line {row['line'] or '-'}: {row['qa_note']}")


@audit.command("appraise")
@click.argument("folder")
def appraise(folder: str) -> None:
    """Error rates and the overpayment projected to the universe: appraisal.json and appraisal.txt."""
    _need_stats()
    from claimscrub.audit import appraisal
    from claimscrub.audit.design import check_frame, log_command, read_design, require_sample
    from claimscrub.audit.determinations import read_state

    path = _folder(folder)
    try:
        design = read_design(path)
        check_frame(path, design)
        require_sample(design)
        review = orjson.loads((path / "review.json").read_bytes()) if (path / "review.json").is_file() else None
        doc = appraisal.build(design, appraisal.read_sample(path), read_state(path), review)
    except AuditError as exc:
        _fail(str(exc))
    (path / "appraisal.json").write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    summary = appraisal.text(doc, design["name"])
    (path / "appraisal.txt").write_text(summary)
    log_command(path, _invocation())
    click.echo(summary, nl=False)
