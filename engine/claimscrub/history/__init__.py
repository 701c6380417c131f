"""Claim history: past claims per patient, and the cross-claim edits payers run against them.

``records`` flattens a claim into history lines, ``store`` keeps them (in memory for one batch,
SQLite in the data directory, or PostgreSQL), ``limits`` reads the frequency-limit table, and
``phase`` runs the history-scope rules (rules/packs/history/) over a batch of claims after each
claim was scrubbed alone.
"""
