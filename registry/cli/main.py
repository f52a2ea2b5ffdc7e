"""The ``prov`` entry point: the command tree and the one place errors become exit codes.

Errors are one line on stderr with the SPEC §5 exit code; ``PROV_DEBUG=1`` shows tracebacks.
Heavy modules (SQLAlchemy, the service) are imported only inside commands, so ``prov --help``
stays fast.
"""

from __future__ import annotations

import os
import sys

import typer

from registry.cli import (
    add,
    capture,
    checkpoint,
    diff,
    imports,
    init,
    key,
    lineage,
    log,
    lookup,
    proof,
    rebuild,
    remote,
    retention,
    serve,
    show,
    token,
    verify,
)
from registry.cli import run as run_cmd

app = typer.Typer(
    name="prov",
    help="Audit-grade provenance registry: signed records in a verifiable Merkle log.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    ctx: typer.Context,
    registry: str | None = typer.Option(
        None,
        "--registry",
        metavar="DIR",
        help="Registry directory (default: PROV_REGISTRY, else the nearest .prov upward).",
    ),
) -> None:
    ctx.obj = {"registry": registry}


app.command()(init.init)
app.command()(add.add)
app.command()(capture.code)
app.command()(capture.env)
app.command()(run_cmd.run)
app.command()(capture.attest)
app.command()(show.show)
app.command()(log.log)
app.command()(lookup.lookup)
app.command()(lineage.lineage)
app.command()(diff.diff)
app.command()(verify.verify)
app.command()(checkpoint.checkpoint)
app.command()(rebuild.rebuild)
app.command()(serve.serve)
app.command()(retention.rm)
app.command()(remote.push)
app.command()(remote.pull)
app.add_typer(proof.app, name="proof")
app.add_typer(key.app, name="key")
app.add_typer(token.app, name="token")
app.add_typer(imports.app, name="import")
app.add_typer(retention.app, name="retention")
app.add_typer(remote.app, name="remote")


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"prov: error: {message}\n")
    return code


def run(argv: list[str] | None = None) -> int:
    """Run ``prov`` with ``argv``; return the exit code."""
    from provenance.errors import ProvenanceError
    from registry.errors import RegistryError

    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="prov", standalone_mode=False)
    except typer.Exit as e:
        return e.exit_code
    except typer.TyperException as e:  # click's usage errors (typer vendors click)
        if type(e).__name__ == "NoArgsIsHelpError":
            e.show()  # type: ignore[attr-defined]
            return 2
        return _fail(f"{e.format_message()} (see prov --help)", 2)
    except (typer.Abort, KeyboardInterrupt):
        return _fail("interrupted", 130)
    except RegistryError as e:
        if os.environ.get("PROV_DEBUG"):
            raise
        return _fail(str(e), e.exit_code)
    except ProvenanceError as e:
        if os.environ.get("PROV_DEBUG"):
            raise
        return _fail(str(e), 2)
    except Exception as e:
        if os.environ.get("PROV_DEBUG"):
            raise
        return _fail(
            f"internal error: {type(e).__name__}: {e} (PROV_DEBUG=1 shows the traceback)", 1
        )
    return result if isinstance(result, int) else 0


def main() -> None:
    code = run()
    # Everything is committed and flushed by now: skip the interpreter's teardown of SQLAlchemy,
    # pydantic and friends, which costs ~80 ms on every command.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
