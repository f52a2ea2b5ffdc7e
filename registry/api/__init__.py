"""The HTTP API of ``prov serve`` (SPEC §10): FastAPI on uvicorn, see :mod:`registry.api.app`."""
