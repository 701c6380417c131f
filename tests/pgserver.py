"""A throw-away PostgreSQL server for tests: Debian's package, a cluster in a temp dir, a Unix socket only.

As root the server runs as the ``postgres`` user (``runuser``); it is stopped and removed at the end.
``start()`` returns None with the reason when no server can be started (the tests then skip saying why).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass

import pytest


@dataclass
class PgServer:
    directory: str
    bindir: str
    as_user: list[str]
    url: str

    def stop(self) -> None:
        subprocess.run(
            [*self.as_user, f"{self.bindir}/pg_ctl", "-D", f"{self.directory}/data", "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(self.directory, ignore_errors=True)


def _bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def start() -> tuple[PgServer | None, str]:
    bindir = _bindir()
    if bindir is None:
        return None, "PostgreSQL is not installed (apt-get install -y postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None, "psycopg is not installed (pip install 'claimscrub[postgres]')"
    as_user: list[str] = []
    directory = tempfile.mkdtemp(prefix="claimscrub-pg-")
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return None, "running as root without runuser: cannot start PostgreSQL as another user"
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(directory, "postgres")
    with socket.socket() as probe:  # a free port: two test modules may each start a server
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    try:
        subprocess.run(
            [*as_user, f"{bindir}/initdb", "-D", f"{directory}/data", "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [
                *as_user,
                f"{bindir}/pg_ctl",
                "-D",
                f"{directory}/data",
                "-w",
                "-l",
                f"{directory}/log",
                "-o",
                f"-p {port} -k {directory} -c listen_addresses=''",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        shutil.rmtree(directory, ignore_errors=True)
        return None, f"PostgreSQL could not start: {exc}"
    return PgServer(directory, bindir, as_user, f"postgresql://postgres@/postgres?host={directory}&port={port}"), ""


@pytest.fixture(scope="session")
def pg_url():
    """The URL of a running throw-away server (import this fixture into a test module to use it)."""
    pytest.importorskip("psycopg", reason="the PostgreSQL history needs psycopg (the test extra brings it)")
    server, why = start()
    if server is None:
        pytest.skip(why)
    yield server.url
    server.stop()
