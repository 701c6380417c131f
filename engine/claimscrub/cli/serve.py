"""``claimscrub serve``: the HTTP service under uvicorn.

One process serves HTTP; ``--workers N`` scrub worker processes (started and
supervised by ``claimscrub.service.pool``) run the rule engine, so a reload
replaces all of them and a crash or a slow claim never stops the server.
The token is never printed and never reaches a worker.
"""

from __future__ import annotations

import os

import click

from claimscrub.service.config import ServiceConfig, load_token


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Scrub worker processes, each with its own rule engine; one that dies is restarted, and a "
    "reload (POST /v1/admin/reload or SIGHUP) replaces all of them.",
)
@click.option(
    "--deadline",
    default=ServiceConfig.deadline,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds a scrub request may take once its body is read (504 naming the claims not done).",
)
@click.option(
    "--rules", "rules", multiple=True, type=click.Path(exists=True), help="Extra rule pack directory (repeatable)."
)
@click.option("--only-rules", is_flag=True, help="Use only the --rules packs, not the bundled ones.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    envvar="CLAIMSCRUB_DATA_DIR",
    help="Imported CMS tables (default $CLAIMSCRUB_DATA_DIR or the user data directory).",
)
@click.option(
    "--samples/--no-samples",
    default=None,
    help="Use the bundled sample tables (default: only when no tables were imported).",
)
@click.option("--include-draft", is_flag=True, help="Also run rules whose status is draft.")
@click.option("--backend", type=click.Choice(["durable", "reference"]), default="durable", show_default=True)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False),
    help="File holding the bearer token clients must send (else $CLAIMSCRUB_TOKEN; else no token).",
)
@click.option(
    "--max-bytes",
    default=ServiceConfig.max_bytes,
    show_default=True,
    type=click.IntRange(min=1),
    help="Largest request body (413 beyond).",
)
@click.option(
    "--max-lines",
    default=ServiceConfig.max_lines,
    show_default=True,
    type=click.IntRange(min=1),
    help="Most service lines in one claim (422 beyond; scrub time grows with the square of it).",
)
@click.option(
    "--max-claims",
    default=ServiceConfig.max_claims,
    show_default=True,
    type=click.IntRange(min=1),
    help="Most claims in one request (422 beyond).",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log one line per request (method, path, status: never bodies or headers).",
)
def serve(
    host,
    port,
    workers,
    deadline,
    rules,
    only_rules,
    data_dir,
    samples,
    include_draft,
    backend,
    token_file,
    max_bytes,
    max_lines,
    max_claims,
    log_level,
    access_log,
):
    """Serve POST /v1/scrub, GET /v1/rules, /v1/data/status, /healthz and /docs over HTTP."""
    import logging

    import uvicorn

    config = ServiceConfig(
        rules=tuple(os.path.abspath(r) for r in rules),
        only_rules=only_rules,
        data_dir=os.path.abspath(data_dir) if data_dir else None,
        samples=samples,
        include_draft=include_draft,
        backend=backend,
        token_file=os.path.abspath(token_file) if token_file else None,
        max_bytes=max_bytes,
        max_lines=max_lines,
        max_claims=max_claims,
        workers=workers,
        deadline=deadline,
        access_log=access_log,
    )
    try:
        token = load_token(config.token_file)
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"cannot read the token: {exc}") from None
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:     %(name)s %(message)s")
    click.echo(
        f"claimscrub: serving on http://{host}:{port} ({workers} worker(s), "
        f"{'bearer token required' if token else 'no token'})",
        err=True,
    )
    from claimscrub.service.app import HTTP_PROTOCOL, create_app

    # uvicorn's own access log writes the client address and the query string: the app logs instead
    uvicorn.run(
        create_app(config.with_token(token)),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        http=HTTP_PROTOCOL,
    )
