"""prov serve: the HTTP API (SPEC §10) on uvicorn."""

from __future__ import annotations

import os
import sys

import typer


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=0, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes (share the database)."),
    no_auth: bool = typer.Option(
        False, "--no-auth", help="Serve without tokens: allowed only on a loopback address."
    ),
    max_body_mib: int = typer.Option(10, "--max-body-mib", min=1, help="Request body cap."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
) -> None:
    """Serve the registry over HTTP: FastAPI on uvicorn, OpenAPI at /openapi.json, /docs."""
    from registry.api.app import SETTINGS_ENV, Settings, is_loopback
    from registry.cli.context import registry
    from registry.errors import InputError

    if no_auth and not is_loopback(host):
        raise InputError(f"--no-auth is allowed only on a loopback address, not {host}")
    reg = registry(ctx)  # fail now, with the CLI's message, if there is no registry
    settings = Settings(str(reg.prov_dir), auth=not no_auth, max_body=max_body_mib << 20)
    reg.close()
    import uvicorn

    os.environ[SETTINGS_ENV] = settings.to_env()
    auth = "tokens required" if settings.auth else "NO AUTH (loopback only)"
    print(
        f"prov: serving {settings.registry} on http://{host}:{port} "
        f"({workers} worker{'s' * (workers > 1)}, {auth})",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        "registry.api.app:factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level="info" if access_log else "warning",
        loop="auto",
        http="registry.api.http:HeadCappedProtocol",  # httptools, its request heads capped
        timeout_graceful_shutdown=10,
    )
