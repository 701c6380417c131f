"""The ``claimscrub`` command line.

Exit codes (scrub): 0 = no finding at or above --fail-on and no rejected claim;
1 = findings at or above the threshold, or rejected claims; 2 = usage error,
broken rules, input that could not be read (a file, a directory, a symlink
loop; the other files are still scrubbed and reported) or no claims at all;
3 = internal error; 130 / 143 = interrupted by SIGINT / SIGTERM (the output
written is well-formed and the claims not reached are counted on stderr).
See :mod:`claimscrub.cli.run`.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click
import orjson

from claimscrub import __version__
from claimscrub.cli.history import HistorySpelling, history_options, history_spec
from claimscrub.cli.policy import payer_options, suppress
from claimscrub.cli.run import StderrConsole, exits_cleanly
from claimscrub.cli.spark import spark as spark_group

err = StderrConsole(highlight=False, soft_wrap=True)  # a message stays one line, whatever the path


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="claimscrub")
def main():
    """claimscrub: scrub US healthcare claims before submission, and audit them after.

    \b
    Claims: native JSON (one claim, an array, JSON Lines), FHIR R4 Claim/Bundle, X12 837 5010.
    Rules:  YAML rule packs (bundled in rules/, add yours with --rules DIR).
    Data:   CMS tables (NCCI PTP, MUE, add-on, MPFS, HCPCS, ...) imported with 'claimscrub data import';
            without them the bundled illustrative sample tables are used and every finding says so.
    Audit:  encounter records (schemas/encounter.schema.json) inside claims or in files beside them:
            E/M level and documentation rules, then cloned notes and provider E/M mix across claims.

    \b
    Quick start:
      claimscrub scrub examples/                 # scrub the demo claims
      claimscrub scrub claims.json --format json # machine-readable findings
      claimscrub scrub claims.json notes.json    # claims with their encounter records (audit)
      claimscrub serve --port 8080               # the same over HTTP (POST /v1/scrub)
      claimscrub rules lint                      # check rule files
      claimscrub rules test                      # run the rule tests beside the rules
      claimscrub rules docs -o docs/rules        # a Markdown page per rule
    """


@main.command(cls=HistorySpelling)
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "jsonl", "csv", "html"]),
    default="text",
    show_default=True,
    help="Output format (html: a summary page for a billing manager; -o FILE).",
)
@click.option(
    "--rules",
    "rules",
    multiple=True,
    type=click.Path(exists=True),
    help="Extra rule pack directory (repeatable); a pack with a bundled pack's name replaces it.",
)
@click.option("--only-rules", is_flag=True, help="Use only the --rules packs, not the bundled ones.")
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "info"]),
    default="error",
    show_default=True,
    help="Lowest severity that makes the exit code 1.",
)
@click.option(
    "--data-dir",
    type=click.Path(),
    envvar="CLAIMSCRUB_DATA_DIR",
    help="Imported CMS tables (default $CLAIMSCRUB_DATA_DIR or the user data directory).",
)
@click.option(
    "--samples/--no-samples",
    default=None,
    help="Use the bundled sample tables (default: only when no tables were imported).",
)
@click.option(
    "--backend",
    type=click.Choice(["durable", "reference"]),
    default="durable",
    show_default=True,
    help="Rete engine (durable-rules) or the pure-Python reference evaluator.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="Worker processes (default: one per core this process may use; 0 = in this process, no crash isolation).",
)
@click.option(
    "--claim-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="Seconds one claim may take in a worker before it is deemed hung: the worker is killed and the "
    "claim rejected with an engine error (the rest of its chunk is scrubbed again).",
)
@click.option(
    "--compact",
    is_flag=True,
    help="JSON Lines without the text every finding of a rule repeats (title, fix, citation): "
    "a first line holds each rule's text once.",
)
@click.option("--include-draft", is_flag=True, help="Also run rules whose status is draft.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write results to a file instead of stdout.")
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar on stderr (default: when stderr is a terminal)."
)
@click.option(
    "--audit/--no-audit",
    default=None,
    help="Batch phase after scrubbing: cloned notes and each provider's E/M mix against peers "
    "(default: when the input has encounters or --peer-benchmarks is given).",
)
@click.option(
    "--peer-benchmarks",
    type=click.Path(dir_okay=False),
    help="Your own peer benchmark table (YAML shaped like rules/tables/em/peer_benchmarks.yaml).",
)
@click.option(
    "--cross-claim/--no-cross-claim",
    default=True,
    show_default=True,
    help="Edit the claims of this run against each other (global surgery, duplicates, MUE per day, ...).",
)
@history_options
@click.option(
    "--record", is_flag=True, help="Record the scrubbed claims in the --history store (default store if none)."
)
@click.option(
    "--frequency-limits",
    type=click.Path(dir_okay=False, exists=True),
    help="Your own frequency-limit table (YAML shaped like rules/tables/history/frequency_limits.yaml).",
)
@click.option(
    "--max-lines",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Reject a claim with more service lines than this (as the HTTP service does).",
)
@click.option(
    "--policies",
    "policy_paths",
    multiple=True,
    type=click.Path(exists=True),
    help="Payer policy file or folder (repeatable), besides rules/policies and the packs' policies/.",
)
@click.option(
    "--default-policies/--no-default-policies",
    default=True,
    show_default=True,
    help="Apply the bundled payer policies (rules/policies).",
)
@click.option(
    "--suppressions",
    type=click.Path(dir_okay=False),
    envvar="CLAIMSCRUB_SUPPRESSIONS",
    help="Accepted findings ('claimscrub suppress add'): matching findings are reported as suppressed.",
)
@click.option("--show-suppressed", is_flag=True, help="List suppressed findings in the text report (always in JSON).")
@exits_cleanly
def scrub(
    paths,
    fmt,
    rules,
    only_rules,
    fail_on,
    data_dir,
    samples,
    backend,
    workers,
    include_draft,
    output,
    progress,
    audit,
    peer_benchmarks,
    cross_claim,
    history_on,
    history_db,
    record,
    frequency_limits,
    max_lines,
    policy_paths,
    default_policies,
    suppressions,
    show_suppressed,
    claim_timeout,
    compact,
):
    """Scrub claims in PATHS (files, directories, or - for stdin) and report findings.

    Encounter records may be given beside the claims (their own files, or mixed in); they are attached to
    their claims by claim id, else patient + date of service + provider NPI, and every one is reported.

    \b
    Memory: --format jsonl and csv are written as claims are scrubbed, in the same memory for any
    number of claims with --no-cross-claim. The cross-claim phase (the default) keeps each claim's
    normalised form (about 1 KB, 4.5 KB at the phase's peak) until the batch is done, the records
    waiting in a temporary file; json, html and text output keep every result.
    """
    options = dict(locals())
    options["history_spec"] = history_spec(options.pop("history_on"), options.pop("history_db"), record)
    from claimscrub.cli.scrubbing import run_scrub

    run_scrub(**options, progress_bar=_progress)


@contextlib.contextmanager
def _progress(show: bool):
    """A claim counter on stderr while scrubbing; yields the function that counts one claim."""
    if not show:
        yield lambda: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.completed} claims"), TimeElapsedColumn(), console=err.rich(), transient=True
    ) as bar:
        task = bar.add_task("scrub")
        yield lambda: bar.advance(task)


@main.group()
def rules():
    """Write, check and test rules."""


@rules.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text", show_default=True)
def rules_lint(paths, fmt):
    """Check rule files (default: the bundled packs): YAML, schema, expressions, types, ids, tests, engine limits.

    Each problem is printed as file:line:col: severity: message [code]. Exit 1 when any error is found.
    """
    from claimscrub.api.scrubber import default_tables
    from claimscrub.authoring.lint import lint, to_sarif
    from claimscrub.refdata.tables import TableError

    roots = [Path(p) for p in paths]
    try:
        tables = default_tables(rule_roots=roots)
    except TableError:  # lint names the pack table's problem
        tables = default_tables()
    issues = lint(roots, tables=tables)
    if fmt == "sarif":
        click.echo(orjson.dumps(to_sarif(issues), option=orjson.OPT_INDENT_2).decode())
    elif fmt == "json":
        click.echo(orjson.dumps([i.__dict__ for i in issues], option=orjson.OPT_INDENT_2).decode())
    else:
        for issue in issues:
            click.echo(str(issue))
        errors = sum(i.severity == "error" for i in issues)
        click.echo(f"{errors} error(s), {len(issues) - errors} warning(s)", err=True)
    sys.exit(1 if any(i.severity == "error" for i in issues) else 0)


@rules.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["text", "junit"]), default="text", show_default=True)
def rules_test(paths, fmt):
    """Run the ruleid/ok cases in the *.test.yaml files beside the rules (default: bundled packs)."""
    from claimscrub.authoring.ruletest import run_tests, to_junit
    from claimscrub.resources import rules_dir

    results = run_tests([Path(p) for p in paths] or [rules_dir()])
    if fmt == "junit":
        click.echo(to_junit(results))
    else:
        for r in results:
            mark = click.style("PASS", fg="green") if r.passed else click.style("FAIL", fg="red")
            click.echo(
                f"{mark} {r.case.label}  ({r.case.file}:{r.case.line})" + ("" if r.passed else f"\n     {r.detail}")
            )
    failed = sum(not r.passed for r in results)
    click.echo(f"{len(results) - failed} passed, {failed} failed", err=True)
    sys.exit(1 if failed else 0)


@rules.command("explain")
@click.argument("rule_id")
@click.option("--claim", "claim_file", type=click.Path(exists=True), help="File holding the claim.")
@click.option("--claim-id", help="Which claim in the file (default: the first).")
@click.option("--rules", "extra", multiple=True, type=click.Path(exists=True), help="Extra rule pack directory.")
@click.option("--data-dir", type=click.Path(), envvar="CLAIMSCRUB_DATA_DIR")
@payer_options
def rules_explain(rule_id, claim_file, claim_id, extra, data_dir, payer_type, payer_id, payer_name, dos, policy_paths):
    """Show the facts built, the compiled condition and the value of each part, for one rule on one claim;
    with --payer, which policy switched the rule off or changed it for that payer and date."""
    from claimscrub.api.scrubber import default_tables, table_columns
    from claimscrub.authoring.explain import explain
    from claimscrub.cli.policy import policy_lines, resolution_for
    from claimscrub.compile.rules import load_rulebook
    from claimscrub.inputs import read_path
    from claimscrub.model.normalize import ClaimRejected, claim_from_dict
    from claimscrub.model.validate import problems

    roots = [Path(p) for p in extra]
    tables = default_tables(data_dir, rule_roots=roots)
    book, _ = load_rulebook(roots, tables=table_columns(tables))
    rule = book.by_id(rule_id)
    if rule is None:
        import difflib

        close = difflib.get_close_matches(rule_id, [r.id for r in book.rules], n=1)
        raise click.UsageError(f"no rule {rule_id}" + (f"; did you mean {close[0]}?" if close else ""))
    resolution = resolution_for(book, tables, payer_type, payer_id, payer_name, dos, policy_paths, roots)
    if resolution is not None:
        click.echo(f"rule {rule.id}: " + "\n".join(policy_lines(rule.id, resolution)))
    if claim_file is None:
        if resolution is None:
            raise click.UsageError("give --claim (why it fires on a claim) or --payer (what the policies do to it)")
        return
    items = [i for i in read_path(claim_file) if claim_id is None or i.claim_id == claim_id]
    if not items or items[0].data is None:
        raise click.UsageError("no readable claim found" + (f": {items[0].error}" if items else ""))
    found = problems(items[0].data)
    if found:
        raise click.UsageError(f"claim {items[0].claim_id} is invalid: {found[0][0]}: {found[0][1]}")
    try:
        claim = claim_from_dict(items[0].data)
    except ClaimRejected as exc:
        raise click.UsageError(f"claim {items[0].claim_id} is invalid: {exc.reason}") from None
    click.echo(explain(rule, claim, tables, book.value_codes))


@rules.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@payer_options
def rules_list(fmt, payer_type, payer_id, payer_name, dos, policy_paths):
    """List the bundled rules; with --payer (and --date), only those in effect there, at their severity."""
    from claimscrub.api.scrubber import default_tables
    from claimscrub.cli.policy import book_in_effect, resolution_for
    from claimscrub.compile.rules import load_rulebook

    book, _ = load_rulebook()
    tables = default_tables() if payer_type or payer_id or payer_name else None  # only a payer's view reads them
    resolution = resolution_for(book, tables, payer_type, payer_id, payer_name, dos, policy_paths)
    if resolution is not None:
        book = book_in_effect(book, resolution)
    if fmt == "json":
        click.echo(orjson.dumps([_rule_meta(r) for r in book.rules], option=orjson.OPT_INDENT_2).decode())
        return
    for r in book.rules:
        click.echo(f"{r.id:<12} {r.severity:<8} {r.category:<16} {r.status:<10} {r.title}")


def _rule_meta(r) -> dict:
    from claimscrub.authoring.ruledocs import rule_summary

    return rule_summary(r)


@rules.command("docs")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory for the pages (one <rule id>.md per rule, and README.md as the index).",
)
@payer_options
def rules_docs(paths, out_dir, payer_type, payer_id, payer_name, dos, policy_paths):
    """Write a Markdown page per rule (default: the bundled packs; PATHS: only these packs) and an index;
    with --payer (and --date), only the rules in effect for that payer, at their severity there."""
    from claimscrub.api.scrubber import default_tables, table_columns
    from claimscrub.authoring.ruledocs import write_docs
    from claimscrub.cli.policy import book_in_effect, resolution_for
    from claimscrub.compile.rules import load_rulebook

    roots = [Path(p) for p in paths]
    tables = default_tables(None, rule_roots=roots)
    book, issues = load_rulebook(roots, tables=table_columns(tables), replace_bundled=bool(paths))
    errors = [i for i in issues if i.severity == "error"]
    for issue in errors:
        err.print(str(issue), highlight=False, markup=False)
    if errors:
        err.print("[red]rules have errors: fix them ('claimscrub rules lint') before writing their docs[/]")
        sys.exit(2)
    resolution = resolution_for(book, tables, payer_type, payer_id, payer_name, dos, policy_paths, roots)
    if resolution is not None:
        book = book_in_effect(book, resolution)
    written = write_docs(book, Path(out_dir))
    click.echo(f"wrote {len(written) - 1} rule page(s) and the index {Path(out_dir) / 'README.md'}", err=True)


def _attach_data_group():
    try:
        from claimscrub.cli.data import data
    except ImportError:  # pragma: no cover - the data commands ship with the tables module
        return
    main.add_command(data)


def _attach_history():
    from claimscrub.cli.history import history

    main.add_command(history)


def _attach_serve():
    from claimscrub.cli.serve import serve

    main.add_command(serve)


def _attach_audit():
    """``claimscrub audit ...``: the record review (cli/audit.py) with its report (cli/report.py)."""
    from claimscrub.cli.audit import audit
    from claimscrub.cli.report import report

    audit.add_command(report)
    main.add_command(audit)


_attach_data_group()
_attach_serve()
_attach_audit()
_attach_history()
main.add_command(suppress)
main.add_command(spark_group)  # claimscrub spark ... (cli/spark.py; pyspark imported only when run)

if __name__ == "__main__":  # pragma: no cover
    main()
