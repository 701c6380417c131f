"""The claims a streamed run keeps for its cross-claim phase, on disk in buckets by patient.

Every history rule pairs a claim with lines of the same patient, so the phase can run on one group of
patients at a time and find what it finds on the whole batch. The CLI's parent used to keep every
scrubbed claim (pickled, about 1.1 KB a claim, 4.5 KB once unpickled for the phase) until the workers
were done: memory grew with the input. Here each claim's pickled form goes to one of ``BUCKETS``
temporary files chosen by a stable hash of its patient id, and the phase reads back one bucket at a
time, so the parent holds about 1/``BUCKETS`` of the claims at once. Within a bucket the claims keep
their input order (the phase's order ties fall back on it, as on the whole batch).
"""

from __future__ import annotations

import pickle
import struct
import tempfile
import zlib
from collections.abc import Iterator
from typing import IO

from claimscrub.model.claim import Claim

BUCKETS = 64
_HEAD = struct.Struct("<QI")  # the claim's position in the run, the length of its pickled form


class PatientSpill:
    """Pickled claims, each with its position in the run, in temporary files by patient (see the module)."""

    def __init__(self, buckets: int | None = None) -> None:
        self._files: list[IO[bytes] | None] = [None] * (buckets or BUCKETS)
        self.count = 0

    def add(self, position: int, patient: str, pickled: bytes) -> None:
        """Keep the claim at ``position`` (its index among the run's results) for the phase."""
        at = zlib.crc32(patient.encode("utf-8", "surrogatepass")) % len(self._files)
        file = self._files[at]
        if file is None:
            file = self._files[at] = tempfile.TemporaryFile(prefix="claimscrub-claims-")  # noqa: SIM115 - closed when read
        file.write(_HEAD.pack(position, len(pickled)))
        file.write(pickled)
        self.count += 1

    def buckets(self) -> Iterator[tuple[list[int], list[Claim]]]:
        """Each bucket's positions and claims, in input order; a bucket's file is closed once it was read."""
        for at, file in enumerate(self._files):
            if file is None:
                continue
            file.seek(0)
            data = file.read()
            file.close()
            self._files[at] = None
            positions: list[int] = []
            claims: list[Claim] = []
            offset = 0
            while offset < len(data):
                position, size = _HEAD.unpack_from(data, offset)
                offset += _HEAD.size
                positions.append(position)
                claims.append(pickle.loads(data[offset : offset + size]))
                offset += size
            del data
            yield positions, claims

    def close(self) -> None:
        for file in self._files:
            if file is not None:
                file.close()
        self._files = [None] * len(self._files)
