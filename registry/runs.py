"""Runs: one execution (training, evaluation, a transformation) and what it used and made.

A :class:`Run` captures the code and the environment when it starts, collects inputs, metrics
and outputs while it runs, and registers itself when it finishes: the ``run`` record (params,
metrics, command, start and end, status, host, user; links ``used``, ``code``,
``environment``), then each output as ``generated_by`` it. A run's id hashes its content, so the
outputs can only name it once it has ended; outputs of a failed run are not registered (their
bytes are whatever the failure left), and the run says which outputs it declared.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from provenance.canonical import canonical_bytes
from provenance.errors import ProvenanceError
from provenance.timefmt import now_text
from registry.capture.identity import who
from registry.capture.redact import redact_argv
from registry.errors import InputError, RegistryError
from registry.results import Registered

__all__ = ["Run", "RunTarget", "flatten"]


class RunTarget(Protocol):
    """What a :class:`Run` registers into: the local registry or the HTTP client."""

    def code(self, repo: str | os.PathLike[str] = ...) -> Registered: ...

    def environment(self, project: str | os.PathLike[str] | None = ...) -> Registered: ...

    def add(
        self,
        path: str | os.PathLike[str],
        kind: str | None = ...,
        name: str | None = ...,
        tags: Mapping[str, str] | None = ...,
        links: Sequence[tuple[str, str]] = ...,
    ) -> Registered: ...

    def register(self, records: Iterable[Mapping[str, Any]]) -> list[Registered]: ...

    def resolve(self, ref: str) -> str: ...


@dataclass
class _Output:
    path: Path
    kind: str | None
    name: str | None
    tags: dict[str, str]


def flatten(value: Any, prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Nested mappings as one level with dotted keys, as DVC shows params and metrics:
    ``{"train": {"lr": 0.1}}`` → ``{"train.lr": 0.1}``."""
    out = {} if out is None else out
    if isinstance(value, Mapping):
        for k, v in value.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    else:
        out[prefix] = value
    return out


def _json_safe(what: str, values: Mapping[str, Any]) -> dict[str, Any]:
    out = {str(k): v for k, v in values.items()}
    try:
        canonical_bytes(out)
    except ProvenanceError as e:
        raise InputError(f"{what}: {e}") from None
    return out


class Run:
    """One execution, registered when it ends. Made by :meth:`Registry.run`."""

    def __init__(
        self,
        reg: RunTarget,
        name: str,
        params: Mapping[str, Any] | None = None,
        capture_code: bool = True,
        capture_environment: bool = True,
        command: str | None = None,
    ) -> None:
        self.reg = reg
        self.name = name
        self.params = _json_safe("params", params or {})
        self.metrics: dict[str, Any] = {}
        self.command = command if command is not None else shlex.join(redact_argv(sys.argv))
        self.inputs: list[str] = []
        self.code: Registered | None = None
        self.environment: Registered | None = None
        self.warnings: list[str] = []
        self.started_at: str | None = None
        self.record: Registered | None = None
        self.outputs: list[Registered] = []
        self._declared: list[_Output] = []
        self._capture = (capture_code, capture_environment)

    # ------------------------------------------------------------------ while running

    def start(self) -> Run:
        """Capture code and environment and note the start time."""
        capture_code, capture_environment = self._capture
        if capture_code:
            try:
                self.code = self.reg.code(Path.cwd())
            except InputError as e:  # a run outside git is still a run; say what is missing
                self.warnings.append(f"no code record: {e}")
            else:
                attrs = self.code.record.get("attributes", {})
                if attrs.get("untracked_count"):
                    self.warnings.append(
                        f"{attrs['untracked_count']} untracked file(s) in the working tree "
                        f"({', '.join(attrs['untracked'][:3])}...): the code record is dirty; "
                        "commit them, or list them in .gitignore"
                    )
                elif attrs.get("dirty"):
                    self.warnings.append(
                        "uncommitted changes in the working tree: the code record pins them by "
                        "hash (diff_sha256) only"
                    )
        if capture_environment:
            self.environment = self.reg.environment()
        self.started_at = now_text()
        return self

    def use(self, ref: Any, kind: str | None = None) -> str:
        """Record an input: a record (or its id / unique prefix), or a path, which is registered
        (``kind`` as for :meth:`Registry.add`) if its bytes are not already. Returns the id."""
        rid = getattr(ref, "id", None)
        if rid is None:
            ref = os.fspath(ref)
            rid = self.reg.add(ref, kind=kind).id if Path(ref).exists() else self.reg.resolve(ref)
        if rid not in self.inputs:
            self.inputs.append(rid)
        return str(rid)

    def log_param(self, key: str, value: Any) -> None:
        self.params.update(_json_safe("params", {key: value}))

    def log_metric(self, key: str, value: Any) -> None:
        self.metrics.update(_json_safe("metrics", {key: value}))

    def log_metrics(self, values: Mapping[str, Any]) -> None:
        self.metrics.update(_json_safe("metrics", values))

    def output(
        self,
        path: str | os.PathLike[str],
        kind: str | None = None,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Declare an output: registered as ``generated_by`` this run when it ends well
        (``kind`` as for :meth:`Registry.add`)."""
        self._declared.append(_Output(Path(path), kind, name, dict(tags or {})))

    # ------------------------------------------------------------------ the end

    def finish(
        self, status: str = "succeeded", exit_code: int | None = None, error: str | None = None
    ) -> Registered:
        """Register the run, then (if it succeeded) its outputs.

        A declared output that does not exist makes a succeeded run ``failed``; the run is
        registered and then :class:`InputError` names the missing outputs.
        """
        if self.record is not None:
            raise InputError(f"run {self.name} is already registered")
        if self.started_at is None:
            self.start()
        missing = [str(o.path) for o in self._declared if not o.path.exists()]
        if status == "succeeded" and missing:
            status, error = "failed", f"outputs not produced: {', '.join(missing)}"
        user, _, host = who().partition("@")
        attributes: dict[str, Any] = {
            "params": self.params,
            "metrics": self.metrics,
            "started_at": self.started_at,
            "ended_at": now_text(),
            "status": status,
            "host": host or socket.gethostname(),
            "user": user,
        }
        if self.command:
            attributes["command"] = self.command
        if exit_code is not None:
            attributes["exit_code"] = exit_code
        if error:
            attributes["error"] = error[:1000]
        if self._declared:
            attributes["outputs"] = [str(o.path) for o in self._declared]
        links = [{"rel": "used", "id": i} for i in self.inputs]
        if self.code:
            links.append({"rel": "code", "id": self.code.id})
        if self.environment:
            links.append({"rel": "environment", "id": self.environment.id})
        self.record = self.reg.register(
            [{"kind": "run", "name": self.name, "attributes": attributes, "links": links}]
        )[0]
        if status == "succeeded":
            for o in self._declared:
                self.outputs.append(
                    self.reg.add(
                        o.path,
                        kind=o.kind,
                        name=o.name,
                        tags=o.tags,
                        links=[("generated_by", self.record.id)],
                    )
                )
        elif missing:
            raise InputError(
                f"run {self.name} registered as failed: outputs not produced: {', '.join(missing)}"
            )
        return self.record

    @property
    def id(self) -> str | None:
        return self.record.id if self.record else None

    def __enter__(self) -> Run:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.finish()
            return
        try:
            self.finish("failed", error=exc_type.__name__)
        except RegistryError as e:  # the original exception matters more; keep both
            if exc is not None:
                exc.add_note(f"prov: the failed run could not be registered: {e}")
