"""The statistics of the record review: estimators and intervals (pure functions of numbers)."""
