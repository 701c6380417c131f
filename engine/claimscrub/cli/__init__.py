"""The `claimscrub` command: one module per command group."""
