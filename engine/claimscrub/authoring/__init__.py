"""Tools for rule authors: lint, rule tests, generated docs, explain, the pytest plugin."""
