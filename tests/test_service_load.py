"""The service under a bounded load over loopback, with a crashing and a slow claim mixed in.

uvicorn serves the app in a subprocess (an ephemeral port on 127.0.0.1, so
the clients here do not compete with it for a GIL); its scrub workers are
real processes that segfault or stall on the fault claims (``service_faults``). Every other request must answer as a
lone request does, and ``/healthz`` within a second (95% of probes) throughout, never behind the stalled worker (which
would hold a probe for the whole deadline); one probe may take longer on a loaded machine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson

REPO = Path(__file__).resolve().parents[1]
CLAIMS = orjson.loads((REPO / "examples" / "native" / "demo_claims.json").read_bytes())[:2]
JSON = {"Content-Type": "application/json"}
REQUESTS = 300  # normal requests, spread over CLIENTS
CLIENTS = 4
TIME_BUDGET = 25.0  # seconds: the loops stop here whatever is left
DEADLINE = 8.0  # seconds: the service's deadline per request


SERVE = """
import logging, sys, uvicorn
from service_faults import faulty_scrub
from claimscrub.service.app import ServiceConfig, create_app
logging.basicConfig(level="INFO")
config = ServiceConfig(data_dir=sys.argv[2], workers=4, deadline=float(sys.argv[3]), access_log=False)
uvicorn.run(create_app(config, factory=faulty_scrub), host="127.0.0.1", port=int(sys.argv[1]), log_level="info")
"""


def test_bounded_load_with_a_crashing_and_a_slow_claim(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "server.log"
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(port), str(tmp_path / "empty"), str(DEADLINE)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        run_load(f"http://127.0.0.1:{port}", proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    output = log.read_text()
    assert proc.returncode in (0, -signal.SIGTERM), output
    assert "scrub worker restarted" in output and "deadline passed" in output


def run_load(url: str, proc: subprocess.Popen) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        for _ in range(1200):
            assert proc.poll() is None, "the server ended"
            try:
                if http.get("/healthz").json()["alive"] == 4:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        body = orjson.dumps(CLAIMS)
        expected = http.post("/v1/scrub", content=body, headers=JSON).json()
    assert expected["summary"]["claims"] == len(CLAIMS) and expected["findings"]
    stop_at = time.monotonic() + TIME_BUDGET

    done = threading.Event()
    health: list[float] = []

    def probe() -> None:
        with httpx.Client(base_url=url, timeout=5) as http:
            while not done.is_set() and time.monotonic() < stop_at:
                started = time.perf_counter()
                assert http.get("/healthz").status_code == 200
                health.append(time.perf_counter() - started)
                time.sleep(0.05)

    def client(count: int) -> list[tuple[int, bytes]]:
        out = []
        with httpx.Client(base_url=url, headers=JSON, timeout=30) as http:
            for _ in range(count):
                if time.monotonic() > stop_at:
                    break
                r = http.post("/v1/scrub", content=body)
                out.append((r.status_code, r.content))
        return out

    def fault(claim_id: str) -> httpx.Response:
        time.sleep(0.5)  # in the middle of the load
        faulty = [{**CLAIMS[0], "claim_id": claim_id}, CLAIMS[1]]
        with httpx.Client(base_url=url, headers=JSON, timeout=30) as http:
            return http.post("/v1/scrub", content=orjson.dumps(faulty))

    with ThreadPoolExecutor(CLIENTS + 3) as pool:
        prober = pool.submit(probe)
        crash = pool.submit(fault, "FAULT-CRASH-L")
        slow = pool.submit(fault, "FAULT-SLOW-L")
        answers = [a for f in [pool.submit(client, REQUESTS // CLIENTS) for _ in range(CLIENTS)] for a in f.result()]
        crashed, slowed = crash.result(), slow.result()
        done.set()
        prober.result()

    assert len(answers) >= REQUESTS * 0.5, f"only {len(answers)} requests in {TIME_BUDGET} s"
    assert [s for s, _ in answers].count(200) == len(answers), [(s, c[:200]) for s, c in answers if s != 200][:3]
    for _status, content in answers:
        answer = orjson.loads(content)
        assert answer["claims"] == expected["claims"] and answer["findings"] == expected["findings"]

    assert crashed.status_code == 200
    assert [c["status"] for c in crashed.json()["claims"]] == ["rejected", "scrubbed"]
    assert "crashed twice" in crashed.json()["claims"][0]["reason"]
    assert slowed.status_code == 504
    assert [c["claim_id"] for c in slowed.json()["claims_not_done"]] == ["FAULT-SLOW-L", CLAIMS[1]["claim_id"]]
    health.sort()
    assert len(health) > 20 and health[int(len(health) * 0.95)] < 1.0, health[-5:]
    assert health[-1] < DEADLINE / 2, health[-5:]  # a probe stuck behind the stalled claim waits the deadline
