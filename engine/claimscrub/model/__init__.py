"""The normalised claim: its dataclasses, schema validation and normalisation from native JSON."""
