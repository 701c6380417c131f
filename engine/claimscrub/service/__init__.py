"""The HTTP service (FastAPI) and its configuration."""
