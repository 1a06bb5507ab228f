"""The operator API (FastAPI) and the static dashboard."""
