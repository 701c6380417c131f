"""The HTTP service: every endpoint in-process, then over a real socket, always against the CLI's answers.

The service and the CLI read the same tables here (the bundled samples, with
an empty data directory), so their findings must be identical claim by claim.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from claimscrub.compile.rules import load_rulebook
from claimscrub.service import app as service
from claimscrub.service.app import ServiceConfig, create_app
from claimscrub.service.config import CONFIG_ENV, TOKEN_ENV

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
TOKEN = "t0ken-for-tests-only"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONTENT_TYPES = {
    ".json": "application/json",
    ".x12": "application/edi-x12",
    ".837": "application/edi-x12",
    ".837i": "application/x12",
    ".txt": "text/plain",
}


def example_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.rglob("*") if p.suffix in (".json", ".x12"))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("empty-data")  # no store: the bundled samples, as the CLI below


@pytest.fixture(scope="module")
def client(data_dir: Path):
    app = create_app(ServiceConfig(data_dir=str(data_dir), token=TOKEN))
    with TestClient(app) as c:
        yield c


def cli_json(paths: list[Path], data_dir: Path) -> dict:
    """What `claimscrub scrub --format json` prints for these files (run as a separate process)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "claimscrub.cli.main",
            "scrub",
            *map(str, paths),
            "--format",
            "json",
            "--data-dir",
            str(data_dir),
            "--no-progress",
        ],
        capture_output=True,
        cwd=REPO,
        check=False,
        timeout=600,
    )
    assert proc.returncode in (0, 1, 2) and proc.stdout, proc.stderr.decode()
    return orjson.loads(proc.stdout)


def per_file(doc: dict, paths: list[Path]) -> dict[str, tuple[list, list]]:
    """Split a CLI document by input file: each file's claims (without source) and findings, in order."""
    out: dict[str, tuple[list, list]] = {str(p): ([], []) for p in paths}
    findings = iter(doc["findings"])
    for claim in doc["claims"]:
        source = claim["source"]
        name = next(
            str(p)
            for p in sorted(paths, key=lambda p: -len(str(p)))
            if source == str(p) or source.startswith((f"{p}#", f"{p}:"))
        )
        claims, found = out[name]
        claims.append({k: v for k, v in claim.items() if k != "source"})
        found.extend(next(findings) for _ in range(claim["finding_count"]))
    return out


def answer_parts(answer: dict) -> tuple[list, list]:
    return [{k: v for k, v in c.items() if k != "source"} for c in answer["claims"]], answer["findings"]


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower(), "application/edi-x12")


# --- in-process -------------------------------------------------------------------------------


def test_findings_identical_to_the_cli_for_every_example(client, data_dir):
    files = example_files()
    expected = per_file(cli_json(files, data_dir), files)
    total = 0
    for path in files:
        r = client.post("/v1/scrub", content=path.read_bytes(), headers={**AUTH, "Content-Type": content_type(path)})
        assert r.status_code == 200, (path, r.text)
        assert answer_parts(r.json()) == expected[str(path)], path
        total += len(r.json()["claims"])
    assert total == sum(len(c) for c, _ in expected.values()) > 20
    assert any(f for _, f in expected.values())  # the demo claims are built to have findings


def test_answer_has_the_cli_document_shape(client, data_dir):
    path = EXAMPLES / "native" / "demo_claims.json"
    cli = cli_json([path], data_dir)
    r = client.post("/v1/scrub", content=path.read_bytes(), headers={**AUTH, "Content-Type": "application/json"})
    answer = r.json()
    assert r.headers["content-type"] == "application/json"
    assert float(r.headers["server-timing"].removeprefix("scrub;dur=")) > 0
    assert list(answer) == list(cli)
    for key in ("claimscrub", "packs", "data_editions", "not_checked", "input_errors", "summary"):
        assert answer[key] == cli[key], key
    assert answer["claims"][0]["source"] == "request#0"


def without_seconds(node):
    if isinstance(node, dict):
        return {k: without_seconds(v) for k, v in node.items() if k != "seconds"}
    if isinstance(node, list):
        return [without_seconds(v) for v in node]
    return node


def encounter_bodies() -> dict[str, bytes]:
    """Inputs naming encounters: embedded, side by side in one body (linked), and encounters alone."""
    side = orjson.loads((EXAMPLES / "encounters" / "claims_side_by_side.json").read_bytes())
    records = orjson.loads((REPO / "tests" / "fixtures" / "encounters" / "encounters.json").read_bytes())
    return {
        "embedded": (EXAMPLES / "encounters" / "claims.json").read_bytes(),
        "side_by_side": orjson.dumps(records + side),
        "encounters_only": orjson.dumps(records),
    }


@pytest.mark.parametrize("name", ["embedded", "side_by_side", "encounters_only"])
def test_encounters_and_the_batch_phase_as_the_cli_does(client, data_dir, tmp_path, name):
    body = encounter_bodies()[name]
    path = tmp_path / "input.json"
    path.write_bytes(body)
    cli = orjson.loads(json.dumps(cli_json([path], data_dir)).replace(str(path), "request"))
    r = client.post("/v1/scrub", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 200
    assert without_seconds(r.json()) == without_seconds(cli)
    assert "audit" in cli
    if name == "side_by_side":
        assert cli["encounters"]["summary"]["linked"] == 3
        assert any(f["rule_id"] == "CS-AUD-001" for f in cli["findings"])


@pytest.mark.parametrize("ctype", ["application/fhir+json", "application/json; charset=utf-8"])
def test_fhir_bundle(client, ctype):
    body = (EXAMPLES / "fhir" / "demo_bundle.json").read_bytes()
    r = client.post("/v1/scrub", content=body, headers={**AUTH, "Content-Type": ctype})
    assert r.status_code == 200
    assert r.json()["summary"]["claims"] >= 1


def test_ndjson_one_claim_per_line(client):
    claims = orjson.loads((EXAMPLES / "native" / "demo_claims.json").read_bytes())[:3]
    body = b"\n".join(orjson.dumps(c) for c in claims) + b"\n"
    r = client.post("/v1/scrub", content=body, headers={**AUTH, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200
    assert [c["claim_id"] for c in r.json()["claims"]] == [c["claim_id"] for c in claims]


@pytest.mark.parametrize("ctype", ["application/edi-x12", "application/x12", "text/plain"])
def test_x12_content_types(client, ctype):
    r = client.post(
        "/v1/scrub", content=(EXAMPLES / "x12" / "demo_837p.x12").read_bytes(), headers={**AUTH, "Content-Type": ctype}
    )
    assert r.status_code == 200
    assert r.json()["summary"]["scrubbed"] >= 1


def test_a_bad_claim_is_rejected_not_the_request(client):
    good = orjson.loads((EXAMPLES / "native" / "demo_claims.json").read_bytes())[0]
    bad = {**good, "claim_id": "BAD-1", "patient": {**good["patient"], "birth_date": "1990-02-30"}}
    r = client.post(
        "/v1/scrub", content=orjson.dumps([good, bad]), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert r.status_code == 200
    claims = r.json()["claims"]
    assert [c["status"] for c in claims] == ["scrubbed", "rejected"]
    assert claims[1]["field"] == "patient.birth_date" and "calendar date" in claims[1]["reason"]


def test_unreadable_or_mismatched_bodies_are_422(client):
    cases = [
        (b"not json", "application/json", "could not be read"),
        (b'{"claim_id": ', "application/json", "not valid JSON"),
        (b"", "application/json", "empty"),
        (b"{}", "application/edi-x12", "does not start with an ISA"),
        ((EXAMPLES / "x12" / "demo_837p.x12").read_bytes(), "application/json", "application/edi-x12"),
    ]
    for body, ctype, words in cases:
        r = client.post("/v1/scrub", content=body, headers={**AUTH, "Content-Type": ctype})
        assert r.status_code == 422, (body[:20], r.text)
        assert words in r.json()["detail"]


def test_unsupported_content_type_is_415(client):
    for headers in ({"Content-Type": "application/xml"}, {}):
        r = client.post("/v1/scrub", content=b"{}", headers={**AUTH, **headers})
        assert r.status_code == 415
        assert "application/edi-x12" in r.json()["detail"]


def small_limits(data_dir: Path, **limits) -> TestClient:
    return TestClient(create_app(ServiceConfig(data_dir=str(data_dir), **limits)))


def test_body_over_the_byte_limit_is_413_by_header_and_by_actual_size(data_dir):
    body = (EXAMPLES / "native" / "demo_claims.json").read_bytes()
    c = small_limits(data_dir, max_bytes=len(body) - 1)
    r = c.post("/v1/scrub", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "over the limit" in r.json()["detail"]

    def chunks():  # no Content-Length: the limit holds while reading
        for i in range(0, len(body), 100):
            yield body[i : i + 100]

    r = c.post("/v1/scrub", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    r = c.post("/v1/scrub", content=body[: len(body) - 1], headers={"Content-Type": "application/json"})
    assert r.status_code != 413  # at the limit it is read (and is bad JSON: 422)


def test_too_many_claims_or_lines_is_422_naming_the_claim(data_dir):
    claims = orjson.loads((EXAMPLES / "native" / "demo_claims.json").read_bytes())
    c = small_limits(data_dir, max_claims=2)
    r = c.post("/v1/scrub", content=orjson.dumps(claims[:3]), headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "more than 2 claims" in r.json()["detail"]
    assert (
        c.post("/v1/scrub", content=orjson.dumps(claims[:2]), headers={"Content-Type": "application/json"}).status_code
        == 200
    )
    long_claim = next(x for x in claims if len(x["lines"]) >= 2)
    c = small_limits(data_dir, max_lines=len(long_claim["lines"]) - 1)
    r = c.post("/v1/scrub", content=orjson.dumps(long_claim), headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert f"claim {long_claim['claim_id']} has {len(long_claim['lines'])} service lines" in r.json()["detail"]


def test_token_missing_wrong_and_right(client):
    body = (EXAMPLES / "x12" / "demo_837p.x12").read_bytes()
    missing = client.post("/v1/scrub", content=body, headers={"Content-Type": "application/edi-x12"})
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    wrong = client.post(
        "/v1/scrub", content=body, headers={"Content-Type": "application/edi-x12", "Authorization": "Bearer guess-XYZ"}
    )
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer error=")
    assert "guess-XYZ" not in wrong.text and TOKEN not in wrong.text
    for path in ("/v1/rules", "/v1/rules/CS-INT-001", "/v1/data/status"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers=AUTH).status_code == 200
    assert client.post("/v1/admin/reload").status_code == 401
    assert client.get("/healthz").status_code == 200  # probes need no token


def test_no_token_configured_means_open_but_no_http_reload(data_dir):
    c = small_limits(data_dir)
    assert c.get("/v1/rules").status_code == 200
    r = c.post("/v1/admin/reload")
    assert r.status_code == 403 and "SIGHUP" in r.json()["detail"]


def test_token_never_logged(data_dir, caplog):
    caplog.set_level("DEBUG")
    with TestClient(create_app(ServiceConfig(data_dir=str(data_dir), token=TOKEN))) as c:
        c.post("/v1/scrub", content=b"{}", headers={"Content-Type": "application/json", **AUTH})
        c.get("/v1/rules", headers={"Authorization": "Bearer wrong-one"})
        c.post("/v1/admin/reload", headers=AUTH)
    assert TOKEN not in caplog.text and "wrong-one" not in caplog.text
    assert "reloaded: generation 2" in caplog.text  # the log is captured at all


def test_access_log_holds_method_path_and_status_only(client, caplog):
    caplog.set_level("INFO", logger="claimscrub.access")
    client.get("/healthz?token=s3cret-in-query")
    client.post("/v1/scrub?patient=DOE", content=b"{}", headers={**AUTH, "Content-Type": "application/json"})
    lines = [r.getMessage() for r in caplog.records if r.name == "claimscrub.access"]
    assert lines == ["GET /healthz 200", "POST /v1/scrub 200"]
    assert "s3cret" not in caplog.text and "DOE" not in caplog.text and "testclient" not in caplog.text


def test_healthz_rules_and_rule_docs(client):
    book, _ = load_rulebook()
    health = client.get("/healthz").json()
    per_claim = [r for r in book.active() if r.scope != "history"]  # history rules run in the cross-claim phase
    assert health["status"] == "ok" and health["rules"] + health["not_checked"] == len(per_claim)
    assert health["packs"] == {p.name: p.version for p in book.packs.values()}
    listed = client.get("/v1/rules", headers=AUTH).json()
    assert listed["count"] == len(book.rules) == len(listed["rules"])
    assert {r["id"] for r in listed["rules"]} == {r.id for r in book.rules}
    one = client.get("/v1/rules/CS-PTP-001", headers=AUTH).json()
    assert {k: v for k, v in one.items() if k != "doc"} == next(r for r in listed["rules"] if r["id"] == "CS-PTP-001")
    assert "CMS NCCI Policy Manual for Medicare Services" in one["doc"] and "80048 with 80053" in one["doc"]
    page = client.get("/v1/rules/CS-PTP-001/doc", headers=AUTH)
    assert page.headers["content-type"].startswith("text/markdown") and page.text == one["doc"]
    missing = client.get("/v1/rules/CS-PTP-01", headers=AUTH)
    assert missing.status_code == 404 and "did you mean CS-PTP-001" in missing.json()["detail"]


def test_data_status_is_the_cli_document(client, data_dir):
    served = client.get("/v1/data/status", headers=AUTH).json()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "claimscrub.cli.main",
            "data",
            "status",
            "--format",
            "json",
            "--samples",
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        cwd=REPO,
        timeout=300,
        check=True,
    )
    assert served == json.loads(proc.stdout)
    assert any(t["loaded"] and t["origin"] == "sample" for t in served["tables"])


def test_openapi_documents_bodies_and_resolves_every_ref(client):
    doc = client.get("/openapi.json").json()
    assert set(doc["paths"]) >= {
        "/v1/scrub",
        "/v1/rules",
        "/v1/rules/{rule_id}",
        "/v1/data/status",
        "/v1/admin/reload",
        "/healthz",
    }
    body = doc["paths"]["/v1/scrub"]["post"]["requestBody"]["content"]
    assert set(body) == {
        "application/json",
        "application/fhir+json",
        "application/x-ndjson",
        "application/edi-x12",
        "application/x12",
        "text/plain",
    }
    schemas = doc["components"]["schemas"]
    assert "claim_id" in schemas["Claim"]["properties"] and "rule_id" in schemas["Finding"]["properties"]
    refs = set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.add(node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    assert refs and all(r.rsplit("/", 1)[1] in schemas for r in refs), refs
    assert "bearer" in json.dumps(doc["components"].get("securitySchemes", {})).lower()


RULE = """# yaml-language-server: $schema=../../schemas/rule.schema.json
rules:
  - id: LOCAL-SVC-001
    title: Any line billed with code 99213
    category: code_validity
    severity: info
    scope: line
    when: 'line.code == "99213"'
    message: "Line {line.sequence} is 99213."
    fix: Nothing to fix.
    references:
      - source: "Local test policy"
    status: active
"""


def test_reload_swaps_rules_and_a_request_in_flight_finishes_on_the_old_ones(tmp_path, data_dir, monkeypatch):
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "pack.yaml").write_text('name: local\nversion: "1"\n')
    c = TestClient(create_app(ServiceConfig(rules=(str(pack),), data_dir=str(data_dir), token=TOKEN)))
    holder = c.app.state.holder
    old = holder.current
    claim = orjson.loads((REPO / "rules" / "base_claim.json").read_bytes())  # one 99213 line
    body = orjson.dumps(claim)

    def local_hits(answer: dict) -> int:
        return sum(f["rule_id"] == "LOCAL-SVC-001" for f in answer["findings"])

    assert (
        local_hits(c.post("/v1/scrub", content=body, headers={**AUTH, "Content-Type": "application/json"}).json()) == 0
    )

    # a request in flight (held while parsing) when the reload swaps generations finishes on the old one
    entered, release = threading.Event(), threading.Event()

    def held_parse(*args):
        entered.set()
        assert release.wait(30)
        return real_parse(*args)

    real_parse = service.parse_items
    monkeypatch.setattr(service, "parse_items", held_parse)
    in_flight: dict = {}
    worker = threading.Thread(
        target=lambda: in_flight.update(
            answer=c.post("/v1/scrub", content=body, headers={**AUTH, "Content-Type": "application/json"}).json()
        )
    )
    worker.start()
    assert entered.wait(30)
    (pack / "LOCAL-SVC-001.yaml").write_text(RULE)
    r = c.post("/v1/admin/reload", headers=AUTH)
    assert r.status_code == 200 and r.json()["generation"] == 2
    assert holder.current is not old
    monkeypatch.setattr(service, "parse_items", real_parse)
    release.set()
    worker.join(30)
    assert local_hits(in_flight["answer"]) == 0 and in_flight["answer"]["summary"]["scrubbed"] == 1

    assert (
        local_hits(c.post("/v1/scrub", content=body, headers={**AUTH, "Content-Type": "application/json"}).json()) == 1
    )
    assert c.get("/v1/rules/LOCAL-SVC-001", headers=AUTH).status_code == 200
    assert old.pool.pids() == [] and holder.current.pool.status()["alive"] == 1  # the old workers were stopped

    (pack / "LOCAL-SVC-001.yaml").write_text(RULE.replace('line.code == "99213"', 'line.cod == "99213"'))
    r = c.post("/v1/admin/reload", headers=AUTH)
    assert r.status_code == 422 and "still serving generation 2" in r.json()["detail"]
    assert any("line.cod" in i or "cod" in i for i in r.json()["issues"])
    assert c.get("/healthz").json()["generation"] == 2
    assert (
        local_hits(c.post("/v1/scrub", content=body, headers={**AUTH, "Content-Type": "application/json"}).json()) == 1
    )


def test_config_travels_to_workers_without_the_token(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    config = ServiceConfig(rules=("/a",), data_dir="/d", token=TOKEN, token_file=str(token_file), max_lines=7)
    env_value = config.to_env()
    assert TOKEN not in env_value and TOKEN not in repr(config)
    back = ServiceConfig.from_env({CONFIG_ENV: env_value})
    assert back == config
    assert ServiceConfig.from_env({CONFIG_ENV: ServiceConfig().to_env(), TOKEN_ENV: "from-env"}).token == "from-env"
    assert ServiceConfig.from_env({}).token is None


# --- over a real socket -----------------------------------------------------------------------


def test_connections_get_tcp_nodelay_even_from_a_protocol_0_listener():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:  # as uvicorn binds it for --workers N
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as _client:
            conn, _ = listener.accept()
            with conn:
                assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
                service.set_nodelay(conn)
                assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`claimscrub serve` in its own process on 127.0.0.1."""

    def __init__(self, log: Path, *args: str, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "wb") as out:  # a file, not a pipe: a full pipe would stall the server
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "claimscrub.cli.main", "serve", "--port", str(self.port), *args],
                cwd=REPO,
                env={**os.environ, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited: " + self.output())
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("server did not start in 120 s")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> bool:
        """SIGTERM; True when it shut down by itself (uvicorn re-raises the signal after a graceful stop)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return False
        return self.proc.returncode in (0, -signal.SIGTERM)


@pytest.fixture(scope="module")
def server(data_dir, tmp_path_factory):
    token_file = tmp_path_factory.mktemp("secret") / "token"
    token_file.write_text(TOKEN)
    srv = Server(
        tmp_path_factory.mktemp("log") / "server.log",
        "--data-dir",
        str(data_dir),
        "--token-file",
        str(token_file),
        "--log-level",
        "info",
    )
    yield srv
    assert srv.stop(), srv.output()
    output = srv.output()
    assert "Application shutdown complete" in output  # the lifespan ran to its end
    assert "claimscrub.access POST /v1/scrub 200" in output and TOKEN not in output  # access log without the token
    access = [line for line in output.splitlines() if "claimscrub.access" in line]
    assert access and not any("127.0.0.1" in line or "?" in line for line in access)  # no client, no query


def test_socket_findings_identical_to_the_cli(server, data_dir):
    files = example_files()
    expected = per_file(cli_json(files, data_dir), files)
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as http:
        for path in files:
            r = http.post("/v1/scrub", content=path.read_bytes(), headers={"Content-Type": content_type(path)})
            assert r.status_code == 200, r.text
            assert answer_parts(r.json()) == expected[str(path)], path
        assert (
            http.post(
                "/v1/scrub", content=b"{}", headers={"Content-Type": "application/json", "Authorization": "Bearer nope"}
            ).status_code
            == 401
        )


def test_socket_sighup_reloads_in_place(server):
    with httpx.Client(base_url=server.url, timeout=10) as http:
        before = http.get("/healthz").json()["generation"]
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while http.get("/healthz").json()["generation"] == before:
            assert time.monotonic() < deadline, "SIGHUP did not reload"
            time.sleep(0.1)
        assert server.proc.poll() is None


def test_socket_concurrent_requests_through_reloads_all_answered_alike(server):
    """Four clients at once while the rules reload twice: no error, no crash, the same findings every time."""
    from concurrent.futures import ThreadPoolExecutor

    body = (EXAMPLES / "native" / "demo_claims.json").read_bytes()

    def client(n: int) -> list:
        out = []
        with httpx.Client(
            base_url=server.url, headers={**AUTH, "Content-Type": "application/json"}, timeout=60
        ) as http:
            for _ in range(40):
                r = http.post("/v1/scrub", content=body)
                out.append((r.status_code, r.json()["findings"] if r.status_code == 200 else r.text))
        return out

    with ThreadPoolExecutor(5) as pool:
        answers = [pool.submit(client, n) for n in range(4)]
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as http:
            reloads = [http.post("/v1/admin/reload") for _ in range(2)]
            assert [r.status_code for r in reloads] == [200, 200], [r.text for r in reloads]
            generations = [r.json()["generation"] for r in reloads]
        results = [a for f in answers for a in f.result()]
    assert generations[1] == generations[0] + 1
    assert {status for status, _ in results} == {200}
    assert all(findings == results[0][1] for _, findings in results) and results[0][1]
    assert server.proc.poll() is None


def x12_5010_samples(refdata: Path) -> list[Path]:
    roots = [refdata / "samples" / "x12" / "imsweb", refdata / "samples" / "x12" / "linuxforhealth"]
    return sorted(p for root in roots for p in root.rglob("*") if p.is_file() and b"005010" in p.read_bytes()[:4096])


def test_socket_refdata_x12_samples_every_claim_accounted_for_and_identical(server, data_dir, refdata):
    files = x12_5010_samples(refdata)
    cli = cli_json(files, data_dir)
    assert not cli["input_errors"], cli["input_errors"]
    expected = per_file(cli, files)
    served = 0
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=120) as http:
        for path in files:
            r = http.post("/v1/scrub", content=path.read_bytes(), headers={"Content-Type": "application/edi-x12"})
            assert r.status_code == 200, (path, r.text)
            assert answer_parts(r.json()) == expected[str(path)], path
            served += r.json()["summary"]["claims"]
    assert served == len(cli["claims"]) >= 849


def test_socket_workers_get_config_and_token_from_the_environment(data_dir, tmp_path):
    srv = Server(
        tmp_path / "server.log",
        "--data-dir",
        str(data_dir),
        "--workers",
        "2",
        "--log-level",
        "warning",
        env={TOKEN_ENV: TOKEN},
    )
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            assert http.get("/v1/rules").status_code == 401
            assert http.get("/v1/rules", headers=AUTH).status_code == 200
            body = (EXAMPLES / "x12" / "demo_837p.x12").read_bytes()
            answers = []
            for _ in range(4):
                answer = http.post("/v1/scrub", content=body, headers={**AUTH, "Content-Type": "text/plain"}).json()
                answer.pop("seconds")
                answers.append(answer)
            assert all(a == answers[0] for a in answers) and answers[0]["summary"]["findings"] >= 1
            took = []
            for _ in range(21):
                started = time.perf_counter()
                http.post("/v1/scrub", content=body, headers={**AUTH, "Content-Type": "text/plain"})
                took.append(time.perf_counter() - started)
            # Nagle's algorithm against delayed ACKs costs >= 40 ms an answer (see NoDelayH11Protocol)
            assert sorted(took)[10] < 0.035, sorted(took)
    finally:
        stopped = srv.stop()
    assert stopped, srv.output()
