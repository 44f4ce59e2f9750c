"""The data-service API (FastAPI): records, verification and directory publication."""
