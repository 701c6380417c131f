"""The HTTP service's configuration: a plain dataclass, cheap to import (no web framework).

``claimscrub serve`` hands it to uvicorn worker processes as JSON in an
environment variable, without the token: workers read the token file or
``$CLAIMSCRUB_TOKEN`` themselves, so the token is never serialised or logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import orjson

CONFIG_ENV = "CLAIMSCRUB_SERVICE_CONFIG"
TOKEN_ENV = "CLAIMSCRUB_TOKEN"


@dataclass(frozen=True)
class ServiceConfig:
    """Everything a worker needs to build its scrubber and enforce the limits."""

    rules: tuple[str, ...] = ()
    only_rules: bool = False
    data_dir: str | None = None
    samples: bool | None = None
    include_draft: bool = False
    backend: str = "durable"
    token: str | None = field(default=None, repr=False)
    token_file: str | None = None
    max_bytes: int = 10_000_000
    max_lines: int = 200
    max_claims: int = 1000
    workers: int = 1  # scrub worker processes (claimscrub.service.pool), beside the one process serving HTTP
    deadline: float = 30.0  # seconds a request may take from its body read to its answer (504 beyond)
    access_log: bool = True  # method, path and status per request (claimscrub.service.app.AccessLog)

    def to_env(self) -> str:
        """The config as JSON for worker processes, without the token (workers read the file or env)."""
        data = asdict(self)
        data.pop("token")
        return orjson.dumps(data).decode()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceConfig:
        environ = os.environ if environ is None else environ
        raw = orjson.loads(environ.get(CONFIG_ENV) or "{}")
        raw["rules"] = tuple(raw.get("rules") or ())
        config = cls(**raw)
        return config.with_token(load_token(config.token_file, environ))

    def with_token(self, token: str | None) -> ServiceConfig:
        return replace(self, token=token)


def load_token(token_file: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The bearer token from a file (first line) or $CLAIMSCRUB_TOKEN; None when neither is set."""
    environ = os.environ if environ is None else environ
    if token_file:
        token = Path(token_file).read_text(encoding="utf-8").strip()
        if not token:
            raise ValueError(f"token file {token_file} is empty")
        return token
    return environ.get(TOKEN_ENV) or None
