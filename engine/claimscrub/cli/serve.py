"""``claimscrub serve``: the HTTP service under uvicorn.

Worker processes are started by uvicorn from an import string, so the config
travels in an environment variable (JSON, without the token: workers read the
token file or ``$CLAIMSCRUB_TOKEN`` themselves). The token is never printed.
"""

from __future__ import annotations

import os

import click

from claimscrub.service.config import CONFIG_ENV, ServiceConfig, load_token


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Worker processes, each with its own rules and tables; with more than one, SIGHUP to this "
                   "process replaces them one by one and a worker that dies is restarted.")
@click.option("--rules", "rules", multiple=True, type=click.Path(exists=True),
              help="Extra rule pack directory (repeatable).")
@click.option("--only-rules", is_flag=True, help="Use only the --rules packs, not the bundled ones.")
@click.option("--data-dir", type=click.Path(file_okay=False), envvar="CLAIMSCRUB_DATA_DIR",
              help="Imported CMS tables (default $CLAIMSCRUB_DATA_DIR or the user data directory).")
@click.option("--samples/--no-samples", default=None,
              help="Use the bundled sample tables (default: only when no tables were imported).")
@click.option("--include-draft", is_flag=True, help="Also run rules whose status is draft.")
@click.option("--backend", type=click.Choice(["durable", "reference"]), default="durable", show_default=True)
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False),
              help="File holding the bearer token clients must send (else $CLAIMSCRUB_TOKEN; else no token).")
@click.option("--max-bytes", default=ServiceConfig.max_bytes, show_default=True, type=click.IntRange(min=1),
              help="Largest request body (413 beyond).")
@click.option("--max-lines", default=ServiceConfig.max_lines, show_default=True, type=click.IntRange(min=1),
              help="Most service lines in one claim (422 beyond; scrub time grows with the square of it).")
@click.option("--max-claims", default=ServiceConfig.max_claims, show_default=True, type=click.IntRange(min=1),
              help="Most claims in one request (422 beyond).")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="info",
              show_default=True)
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="Log one line per request (method, path, status: never bodies or headers).")
def serve(host, port, workers, rules, only_rules, data_dir, samples, include_draft, backend, token_file,
          max_bytes, max_lines, max_claims, log_level, access_log):
    """Serve POST /v1/scrub, GET /v1/rules, /v1/data/status, /healthz and /docs over HTTP."""
    import logging

    import uvicorn

    config = ServiceConfig(rules=tuple(os.path.abspath(r) for r in rules), only_rules=only_rules,
                           data_dir=os.path.abspath(data_dir) if data_dir else None, samples=samples,
                           include_draft=include_draft, backend=backend,
                           token_file=os.path.abspath(token_file) if token_file else None,
                           max_bytes=max_bytes, max_lines=max_lines, max_claims=max_claims)
    try:
        token = load_token(config.token_file)
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"cannot read the token: {exc}") from None
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:     %(name)s %(message)s")
    click.echo(f"claimscrub: serving on http://{host}:{port} ({workers} worker(s), "
               f"{'bearer token required' if token else 'no token'})", err=True)
    os.environ[CONFIG_ENV] = config.to_env()
    from claimscrub.service.app import HTTP_PROTOCOL

    if workers == 1:
        from claimscrub.service.app import create_app

        uvicorn.run(create_app(config.with_token(token)), host=host, port=port, log_level=log_level,
                    access_log=access_log, http=HTTP_PROTOCOL)
    else:
        # A worker answers the supervisor's health pings from a thread; while it imports and builds its
        # scrubber on a busy machine (or scrubs a large claim in the C core, which holds the GIL) the
        # 5 s default can pass, and a healthy worker is killed and restarted in a loop.
        uvicorn.run("claimscrub.service.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, access_log=access_log, timeout_worker_healthcheck=60, http=HTTP_PROTOCOL)
