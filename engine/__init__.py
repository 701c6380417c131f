"""claimscrub: claim scrubber and coding-audit rules engine."""

__version__ = "0.1.0"
