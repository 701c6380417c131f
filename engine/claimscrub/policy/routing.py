"""Tables read through a payer's table choice: a rule names ``mue_practitioner``, a Medicaid
claim reads ``mue_practitioner_medicaid``.

When a claim's resolution routes a table, the scrubber points
:attr:`RoutedTables.route` at it and makes this the program's table set before
running the rules, so the fact builder, the reference evaluator and finding
rendering (edition, table row) all read the chosen table; other claims read the
tables directly. Claims are scrubbed one at a time per scrubber (the engine is
single-threaded), so one mutable route is safe.
"""

from __future__ import annotations

from typing import Any


class RoutedTables:
    def __init__(self, inner: Any):
        self.inner = inner
        self.route: dict[str, str] = {}

    def _name(self, table: str) -> str:
        return self.route.get(table, table)

    def lookup(self, table: str, key: tuple, dos: str):
        return self.inner.lookup(self._name(table), key, dos)

    def lookup_all(self, table: str, key: tuple, dos: str):
        return self.inner.lookup_all(self._name(table), key, dos)

    def history(self, table: str, key: tuple, dos: str):
        return self.inner.history(self._name(table), key, dos)

    def loaded(self, table: str) -> bool:
        return self.inner.loaded(self._name(table))

    def covers(self, table: str, dos: str) -> bool:
        return self.inner.covers(self._name(table), dos)

    def lists_all(self, table: str, dos: str) -> bool:
        return self.inner.lists_all(self._name(table), dos)

    def edition(self, table: str, dos: str):
        return self.inner.edition(self._name(table), dos)

    def edition_for(self, table: str, dos: str):
        return self.inner.edition_for(self._name(table), dos)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
