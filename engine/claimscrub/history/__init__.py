"""Claim history: past claims per patient, and the cross-claim edits payers run against them.

``records`` flattens a claim into history lines, ``store`` keeps them (in memory for one batch,
SQLite in the data directory, or PostgreSQL), ``edits`` are the cross-claim edits as pure
functions, and ``phase`` runs them over a batch of claims after each claim was scrubbed alone.
"""
