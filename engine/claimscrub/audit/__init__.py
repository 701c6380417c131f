"""Record review for compliance auditors: frame, sample, review, determinations, appraisal.

Each step reads and writes files of one audit folder (``audit_reports/<name>/``, laid out as
``audit_reports/README.md`` says), so a second auditor can redo every step from the folder alone.
"""
