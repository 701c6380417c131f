"""The HTTP service: the scrubber behind a small FastAPI app (``claimscrub serve``).

The service is an edge: parsing is ``claimscrub.inputs``, scrubbing is
``Scrubber``, the answer is ``output.document`` (the CLI's JSON). It adds what
an edge must: limits (413 past ``max_bytes``, 422 past ``max_claims`` or
``max_lines`` per claim, since line pairs make scrub time grow with the square
of a claim's lines), a per-request deadline (504 naming the claims not done),
an optional bearer token compared in constant time and never logged, an
access log of method, path and status only, and reloading without downtime.

The rule engine never runs in this process: claims are scrubbed one at a time
by supervised worker processes (``service_pool``), so a crash in durable-rules'
C core costs a worker restart and at most that claim (rejected with an
engine-error finding), a slow claim costs only its own request (the worker is
killed at the deadline), and the event loop always answers ``/healthz``. This
process keeps the rules and tables without an engine (for rule pages, data
status and the answers' context). A reload loads the rules here, starts a new
pool beside the serving one and swaps a single reference: a request in flight
finishes on the generation it started with, whose workers then end (replacing
processes is the only way to free what durable-rules keeps of old rulesets).
"""

from __future__ import annotations

import hmac
import logging
import signal
import socket
import threading
import time
import traceback
import weakref
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from uvicorn.protocols.http.h11_impl import H11Protocol

from claimscrub import __version__
from claimscrub.inputs import InputFormatError, read_bytes
from claimscrub.inputs.base import InputItem
from claimscrub.service.config import TOKEN_ENV, ServiceConfig
from claimscrub.service.pool import DeadlinePassed, Factory, ScrubPool, WorkerStartError, build_scrub

log = logging.getLogger("claimscrub.service")
access_log = logging.getLogger("claimscrub.access")

JSON_TYPES = ("application/json", "application/fhir+json", "application/x-ndjson")
X12_TYPES = ("application/edi-x12", "application/x12", "text/plain")
SOURCE = "request"  # the claims' source name in answers (a request has no file name)


@dataclass
class Loaded:
    """One generation of rules and tables: what a request runs on from start to finish."""

    scrubber: Any  # rules and tables, no rule engine (that is in the pool's workers)
    pool: ScrubPool
    generation: int
    loaded_at: str
    seconds: float
    meta: dict = field(default_factory=dict)  # the answer's context: fixed per generation (~0.4 ms to build)
    _docs: dict = field(default_factory=dict, repr=False)

    def audit_config(self) -> tuple:
        """The batch phase's cloned-note settings and peer benchmarks (the bundled ones, as the CLI's default)."""
        if "_audit" not in self._docs:
            from claimscrub.documentation.cloned import load_cloned_config
            from claimscrub.documentation.emstats import load_benchmarks

            self._docs["_audit"] = (load_cloned_config(), load_benchmarks(None))
        return self._docs["_audit"]

    def summaries(self) -> list[dict]:
        from claimscrub.authoring.ruledocs import rule_summary

        if "_list" not in self._docs:
            self._docs["_list"] = [rule_summary(r) for r in self.scrubber.rulebook.rules]
        return self._docs["_list"]

    def rule_doc(self, rule_id: str) -> dict | None:
        from claimscrub.authoring.ruledocs import rule_markdown, rule_summary

        if rule_id not in self._docs:
            rule = self.scrubber.rulebook.by_id(rule_id)
            if rule is None:
                return None
            self._docs[rule_id] = {**rule_summary(rule), "doc": rule_markdown(rule)}
        return self._docs[rule_id]


def build(config: ServiceConfig, generation: int, factory: Factory = build_scrub) -> Loaded:
    """Load the rules and tables here, then start the workers on the same rulebook (RulesError or WorkerStartError)."""
    from claimscrub.api.scrubber import Scrubber
    from claimscrub.output.writers import scrub_meta

    started = time.perf_counter()
    scrubber = Scrubber(
        list(config.rules),
        replace_bundled=config.only_rules,
        data_dir=config.data_dir,
        samples=config.samples,
        include_draft=config.include_draft,
        backend=None,
    )
    pool = ScrubPool(config, scrubber.rulebook, config.workers, factory)
    return Loaded(
        scrubber,
        pool,
        generation,
        datetime.now(UTC).isoformat(timespec="seconds"),
        round(time.perf_counter() - started, 3),
        scrub_meta(scrubber, [], 0.0),
    )


class Holder:
    """The serving generation, and reloads that replace it atomically."""

    def __init__(self, config: ServiceConfig, factory: Factory = build_scrub):
        self.config = config
        self.factory = factory
        self._reloading = threading.Lock()
        self._swapping = threading.Lock()  # a request takes a generation and enters its pool as one step
        self.current = build(config, 1, factory)

    @contextmanager
    def using(self) -> Iterator[Loaded]:
        """The serving generation, kept alive (its workers too) until the request is done with it."""
        with self._swapping:
            loaded = self.current
            loaded.pool.enter()
        try:
            yield loaded
        finally:
            loaded.pool.leave()

    def reload(self) -> Loaded:
        """Build the next generation (every worker new) and swap it in; on RulesError or WorkerStartError the
        old one keeps serving."""
        if not self._reloading.acquire(blocking=False):
            raise ReloadBusy()
        try:
            loaded = build(self.config, self.current.generation + 1, self.factory)
            with self._swapping:
                old, self.current = self.current, loaded
        finally:
            self._reloading.release()
        old.pool.retire()  # its workers end when the requests still on it are done
        log.info(
            "reloaded: generation %d, %d rules, %d worker(s) replaced, %.1fs",
            loaded.generation,
            len(loaded.scrubber.rulebook.rules),
            loaded.pool.size,
            loaded.seconds,
        )
        return loaded

    def close(self) -> None:
        self.current.pool.shutdown()

    def reload_in_background(self) -> None:
        def run():
            try:
                self.reload()
            except ReloadBusy:
                log.warning("reload requested while one is running: ignored")
            except Exception as exc:  # noqa: BLE001 - a bad rule edit must not take the server down
                log.error("reload failed, still serving generation %d: %s", self.current.generation, _safe(exc))

        threading.Thread(target=run, name="claimscrub-reload", daemon=True).start()


class ReloadBusy(Exception):
    """A reload is already running."""


class Unprocessable(Exception):
    """The body was received but cannot be scrubbed as a whole (422)."""


class DeadlineExceeded(Exception):
    """The request's deadline passed before every claim was scrubbed (504): the claims not done, named."""

    def __init__(self, deadline: float, done: int, not_done: list[InputItem]):
        super().__init__("deadline passed")
        self.deadline, self.done, self.not_done = deadline, done, not_done

    def answer(self) -> dict:
        total = self.done + len(self.not_done)
        return {
            "detail": f"the request's deadline of {self.deadline:g} s passed with {len(self.not_done):,} of "
            f"{total:,} claims not scrubbed; send those again, alone or in smaller requests",
            "claims_done": self.done,
            "claims_not_done": [{"claim_id": i.claim_id, "source": i.source} for i in self.not_done],
        }


def _safe(exc: BaseException) -> str:
    """An error for the log: rule errors are about rule files; anything else by type only (may hold claim data)."""
    from claimscrub.api.scrubber import RulesError

    if isinstance(exc, (RulesError, WorkerStartError)):
        return str(exc)
    return type(exc).__name__


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing (413) by Content-Length before reading and by size while reading."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HTTPException(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise HTTPException(413, f"request body of {int(declared):,} bytes is over the limit of {limit:,} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"request body is over the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_items(body: bytes, kind: str, config: ServiceConfig, encounters: list | None = None) -> list[InputItem]:
    """Every claim in the body, within the claim and line limits; Unprocessable names the problem.

    Encounter records in the body (beside the claims, as the CLI takes them) go to ``encounters``.
    """
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if kind == "x12" and head and not head.startswith(b"ISA"):
        raise Unprocessable("the Content-Type says X12 but the body does not start with an ISA segment")
    if kind == "json" and head.startswith(b"ISA"):
        raise Unprocessable("the Content-Type says JSON but the body is X12: send it as application/edi-x12")
    items: list[InputItem] = []
    try:
        for item in read_bytes(body, SOURCE, encounters):
            items.append(item)
            if len(items) > config.max_claims:
                raise Unprocessable(f"more than {config.max_claims:,} claims in one request: split the batch")
            lines = (item.data or {}).get("lines")
            if isinstance(lines, list) and len(lines) > config.max_lines:
                raise Unprocessable(
                    f"claim {item.claim_id or '#' + str(len(items))} has {len(lines):,} service "
                    f"lines, over the limit of {config.max_lines:,} per claim"
                )
    except InputFormatError as exc:
        raise Unprocessable(f"the body could not be read: {exc}") from None
    except (Unprocessable, DeadlineExceeded):
        raise
    except Exception as exc:  # noqa: BLE001 - a reader fault is about the body: 422, by type only (no claim data)
        log.error("reader failed on a request body: %s", type(exc).__name__)
        raise Unprocessable(
            f"the body could not be read (the reader failed: {type(exc).__name__} after {len(items):,} claim(s))"
        ) from None
    return items


def scrub_body(loaded: Loaded, body: bytes, kind: str, config: ServiceConfig, deadline: float | None = None) -> bytes:
    """Parse here, scrub each claim in a worker before the deadline (monotonic time), answer with the CLI's JSON.

    As ``claimscrub scrub`` does with one input file: encounter records beside the claims are attached to
    them, and when the input names an encounter the batch phase (cloned notes, E/M mix against the
    bundled peer benchmarks) runs over the request's claims and adds its findings and sections.
    """
    from claimscrub.api import batch
    from claimscrub.history.phase import ClaimCollector, finish_batch
    from claimscrub.inputs.encounters import encounter_report, index_encounters, link_items
    from claimscrub.output.writers import json_sections, to_json

    started = time.perf_counter()
    deadline = time.monotonic() + config.deadline if deadline is None else deadline
    found: list = []
    items = parse_items(body, kind, config, found)
    index = index_encounters(found) if found else None
    links: list = []
    items = list(link_items(items, index, links))
    collector = batch.Collector() if b'"encounter_id"' in body else None
    results: list = []
    claims_kept = ClaimCollector()  # one request is one batch: its claims are each other's history
    watched = list(claims_kept.watch(collector.watch(items) if collector else items))
    try:
        for result in loaded.pool.scrub_many(watched, deadline):  # one round trip for the request's claims
            results.append(result)
            claims_kept.take(result)
            if collector:
                collector.take(result)
    except (DeadlinePassed, WorkerStartError):
        raise DeadlineExceeded(config.deadline, len(results), items[len(results) :]) from None
    results = finish_batch(results, claims_kept, loaded.scrubber)
    report = None
    if collector:
        cloned, benchmarks = loaded.audit_config()
        report = batch.run_batch(collector.facts, cloned, benchmarks)
        results = batch.attach(results, report)
    encounters = encounter_report(index, links) if index is not None else None
    meta = {**loaded.meta, "seconds": round(time.perf_counter() - started, 3), **json_sections(encounters, report)}
    return to_json(results, meta)


def _claim_components() -> dict:
    """The native claim JSON Schema as OpenAPI components (its definitions hoisted, refs rewritten)."""
    from claimscrub.resources import schema_path

    schema = orjson.loads(schema_path("claim.schema.json").read_bytes())
    defs = schema.pop("definitions", {})
    schema.pop("$schema", None)
    schema.pop("$id", None)

    def fix(node):
        if isinstance(node, dict):
            return {
                k: (
                    "#/components/schemas/Claim_" + v.rsplit("/", 1)[1]
                    if k == "$ref" and isinstance(v, str) and v.startswith("#/definitions/")
                    else fix(v)
                )
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    out = {"Claim": fix(schema)}
    out.update({f"Claim_{name}": fix(d) for name, d in defs.items()})
    return out


def _finding_schema() -> dict:
    from pydantic import TypeAdapter

    from claimscrub.compile.findings import Finding

    return TypeAdapter(Finding).json_schema()


_CLAIM = {"$ref": "#/components/schemas/Claim"}
SCRUB_BODY = {
    "required": True,
    "description": "Claims to scrub. JSON is read like the CLI reads a file: one native claim, an array of them, "
    "JSON Lines, or a FHIR R4 Claim or Bundle (detected by content). X12 is an 837P/837I 5010 "
    "interchange.",
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    _CLAIM,
                    {"type": "array", "items": _CLAIM},
                    {"type": "object", "description": "FHIR R4 Claim or Bundle"},
                ]
            }
        },
        "application/fhir+json": {
            "schema": {
                "type": "object",
                "description": "FHIR R4 Claim, or a Bundle of Claims",
                "required": ["resourceType"],
            }
        },
        "application/x-ndjson": {"schema": {"type": "string", "description": "one native claim per line"}},
        "application/edi-x12": {"schema": {"type": "string", "description": "X12 837P/837I 005010"}},
        "application/x12": {"schema": {"type": "string", "description": "X12 837P/837I 005010"}},
        "text/plain": {"schema": {"type": "string", "description": "X12 837P/837I 005010"}},
    },
}
SCRUB_ANSWER = {
    "type": "object",
    "description": "The document `claimscrub scrub --format json` prints.",
    "required": ["claimscrub", "packs", "summary", "claims", "findings"],
    "properties": {
        "claimscrub": {"type": "string"},
        "packs": {"type": "object", "additionalProperties": {"type": "string"}},
        "data_editions": {"type": "array", "items": {"type": "object"}},
        "not_checked": {"type": "array", "items": {"type": "object"}},
        "input_errors": {"type": "array", "items": {"type": "string"}},
        "seconds": {"type": "number"},
        "summary": {"type": "object"},
        "claims": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "claim_id": {"type": ["string", "null"]},
                    "status": {"enum": ["scrubbed", "rejected"]},
                    "source": {"type": ["string", "null"]},
                    "finding_count": {"type": "integer"},
                    "reason": {"type": ["string", "null"]},
                    "field": {"type": ["string", "null"]},
                },
            },
        },
        "findings": {"type": "array", "items": {"$ref": "#/components/schemas/Finding"}},
    },
}


DEADLINE_ANSWER = {
    "type": "object",
    "required": ["detail", "claims_done", "claims_not_done"],
    "properties": {
        "detail": {"type": "string"},
        "claims_done": {"type": "integer"},
        "claims_not_done": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"claim_id": {"type": ["string", "null"]}, "source": {"type": "string"}},
            },
        },
    },
}


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"type": "object", "properties": {"detail": {"type": "string"}}}}},
    }


def create_app(config: ServiceConfig | None = None, factory: Factory = build_scrub) -> FastAPI:
    """The app: rules, tables and scrub workers started now; reloaded by POST /v1/admin/reload or SIGHUP.

    ``factory`` builds each worker's scrub function in the worker process (tests inject faults there).
    """
    config = config or ServiceConfig()
    holder = Holder(config, factory)
    bearer = HTTPBearer(auto_error=False, description="Required when the server was started with a token.")

    # The default-argument form: with postponed annotations FastAPI cannot resolve a local in Annotated.
    def authorized(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:  # noqa: B008
        if config.token is None:
            return
        given = credentials.credentials if credentials is not None else ""
        if not hmac.compare_digest(given.encode(), config.token.encode()):
            challenge = 'Bearer error="invalid_token"' if credentials is not None else "Bearer"
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": challenge})

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import asyncio

        loop = asyncio.get_running_loop()
        hup = False
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGHUP"):
            try:
                loop.add_signal_handler(signal.SIGHUP, holder.reload_in_background)
                hup = True
            except (NotImplementedError, RuntimeError):  # pragma: no cover - no signals on this loop
                pass
        yield
        if hup:
            loop.remove_signal_handler(signal.SIGHUP)
        holder.close()

    app = FastAPI(
        title="claimscrub",
        version=__version__,
        lifespan=lifespan,
        description="Scrub US healthcare claims (native JSON, FHIR R4, X12 837 5010) against coding "
        "and claim-integrity rules. Answers are the CLI's JSON.",
    )
    app.state.holder = holder
    app.state.config = config
    weakref.finalize(app, holder.close)  # workers end with the app even when its lifespan never ran (tests)
    if config.access_log:
        app.add_middleware(AccessLog)
    guarded = [Depends(authorized)]

    @app.exception_handler(Unprocessable)
    async def unprocessable(request: Request, exc: Unprocessable):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(DeadlineExceeded)
    async def deadline_exceeded(request: Request, exc: DeadlineExceeded):
        return JSONResponse(exc.answer(), status_code=504)

    @app.post(
        "/v1/scrub",
        dependencies=guarded,
        response_class=Response,
        summary="Scrub claims",
        openapi_extra={"requestBody": SCRUB_BODY},
        responses={
            200: {
                "description": "Every claim's status and every finding",
                "content": {"application/json": {"schema": SCRUB_ANSWER}},
            },
            401: _error("Missing or wrong bearer token"),
            413: _error("Body over the byte limit"),
            415: _error("Unsupported Content-Type"),
            422: _error("Unreadable body, or too many claims or lines"),
            504: {
                "description": "The deadline passed: the claims not scrubbed, named",
                "content": {"application/json": {"schema": DEADLINE_ANSWER}},
            },
        },
    )
    async def scrub(request: Request) -> Response:
        kind = media_type(request)
        if kind in JSON_TYPES:
            kind = "json"
        elif kind in X12_TYPES:
            kind = "x12"
        else:
            raise HTTPException(
                415,
                f"Content-Type {kind or '(none)'} is not supported; send one of " + ", ".join(JSON_TYPES + X12_TYPES),
            )
        body = await read_limited(request, config.max_bytes)
        started = time.perf_counter()
        deadline = time.monotonic() + config.deadline  # from the body read, waiting for a thread included
        try:
            with holder.using() as loaded:  # this request runs on this generation even if a reload swaps it
                answer = await run_in_threadpool(scrub_body, loaded, body, kind, config, deadline)
        except (Unprocessable, DeadlineExceeded):
            raise
        except Exception as exc:  # noqa: BLE001 - answer 500 and log without claim data
            log.error("scrub failed: %s\n%s", _safe(exc), "".join(traceback.format_tb(exc.__traceback__)))
            raise HTTPException(500, "internal error while scrubbing; the claims were not checked") from None
        took = (time.perf_counter() - started) * 1000  # parse + wait for the engine + scrub + write, in ms
        return Response(answer, media_type="application/json", headers={"Server-Timing": f"scrub;dur={took:.2f}"})

    @app.get("/v1/rules", dependencies=guarded, summary="Every loaded rule's metadata")
    def rules() -> dict:
        loaded = holder.current
        return {
            "count": len(loaded.scrubber.rulebook.rules),
            "generation": loaded.generation,
            "rules": loaded.summaries(),
        }

    @app.get(
        "/v1/rules/{rule_id}",
        dependencies=guarded,
        summary="One rule's metadata and its Markdown page",
        responses={404: _error("No such rule")},
    )
    def rule(rule_id: str) -> dict:
        loaded = holder.current
        found = loaded.rule_doc(rule_id)
        if found is None:
            import difflib

            close = difflib.get_close_matches(rule_id, [r.id for r in loaded.scrubber.rulebook.rules], n=1)
            raise HTTPException(404, f"no rule {rule_id}" + (f"; did you mean {close[0]}?" if close else ""))
        return found

    @app.get(
        "/v1/rules/{rule_id}/doc",
        dependencies=guarded,
        response_class=PlainTextResponse,
        summary="One rule's page as Markdown",
        responses={404: _error("No such rule")},
    )
    def rule_page(rule_id: str) -> PlainTextResponse:
        return PlainTextResponse(rule(rule_id)["doc"], media_type="text/markdown")

    @app.get("/v1/data/status", dependencies=guarded, summary="The tables this worker reads (as `data status`)")
    def data_status() -> dict:
        from claimscrub.refdata.store import Store, resolve_data_dir, status_document

        path = Store.path_in(resolve_data_dir(config.data_dir))
        return status_document(path, holder.current.scrubber.tables)

    @app.post(
        "/v1/admin/reload",
        dependencies=guarded,
        summary="Reload rule packs and tables without downtime, replacing every scrub worker",
        responses={
            403: _error("No token configured"),
            409: _error("A reload is running"),
            422: _error("The rules have errors; the old ones keep serving"),
            503: _error("The new workers did not start; the old ones keep serving"),
        },
    )
    async def reload() -> dict:  # FastAPI reads this annotation as the response model: keep it a plain dict
        from claimscrub.api.scrubber import RulesError

        if config.token is None:
            raise HTTPException(
                403, f"reload over HTTP needs a configured token (--token-file or ${TOKEN_ENV}); send SIGHUP instead"
            )
        try:
            loaded = await run_in_threadpool(holder.reload)
        except ReloadBusy:
            raise HTTPException(409, "a reload is already running") from None
        except RulesError as exc:
            return JSONResponse(
                {
                    "detail": f"the rules have errors; still serving generation "  # type: ignore[return-value]
                    f"{holder.current.generation}",
                    "issues": [str(i) for i in exc.issues],
                },
                status_code=422,
            )
        except WorkerStartError as exc:
            raise HTTPException(
                503,
                f"the new scrub workers did not start ({exc}); still serving generation {holder.current.generation}",
            ) from None
        return {"status": "reloaded", "workers_replaced": loaded.pool.size, **_health(loaded)}

    @app.get("/healthz", summary="Liveness, pack versions, rule count and scrub workers")
    async def healthz() -> dict:  # on the event loop: answers even when every threadpool thread waits on a worker
        return {"status": "ok", **_health(holder.current)}

    def custom_openapi() -> dict:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(_claim_components())
            components["Finding"] = _finding_schema()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
    return app


def _health(loaded: Loaded) -> dict:
    scrubber = loaded.scrubber
    return {
        "claimscrub": __version__,
        "generation": loaded.generation,
        "loaded_at": loaded.loaded_at,
        "rules": len(scrubber.program.rules),
        "packs": {p.name: p.version for p in scrubber.rulebook.packs.values()},
        "not_checked": len(scrubber.not_checked),
        **loaded.pool.status(),
    }


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class AccessLog:
    """One log line per request: method, path (never the query string) and status; no client address.

    Replaces uvicorn's access log, which writes the client address and the query string (where a client
    may have put a token).
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # when the app fails before answering

        async def sending(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            access_log.info("%s %s %d", scope["method"], scope["path"], status)


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with TCP_NODELAY set on every connection.

    With ``--workers N`` uvicorn binds the listening socket itself with protocol number 0, and asyncio
    then skips TCP_NODELAY on the connections it accepts (it checks for IPPROTO_TCP): a response's
    header and body writes meet Nagle's algorithm and the client's delayed ACK, and every answer
    took ~45 ms instead of ~3 ms (measured with benchmarks/bench_http.py --workers 2).
    """

    def connection_made(self, transport) -> None:
        set_nodelay(transport.get_extra_info("socket"))
        super().connection_made(transport)


def set_nodelay(sock) -> None:
    """TCP_NODELAY on a TCP connection, whatever protocol number its listening socket was made with."""
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # pragma: no cover - not a TCP socket after all
            pass


HTTP_PROTOCOL = "claimscrub.service.app:NoDelayH11Protocol"  # an import string: uvicorn workers import it themselves


def app_from_env() -> FastAPI:
    """The app for an outside ASGI server (``uvicorn --factory claimscrub.service.app:app_from_env``), configured by
    ``$CLAIMSCRUB_SERVICE_CONFIG`` (JSON) and the token file or ``$CLAIMSCRUB_TOKEN``."""
    return create_app(ServiceConfig.from_env())
