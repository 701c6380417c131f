"""Writing scrub results: text, JSON, JSON Lines, CSV, SARIF, HTML."""
