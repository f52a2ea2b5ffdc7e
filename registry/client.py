"""``Registry.connect(url, token=...)``: a registry behind ``prov serve``, with the same
interface as the local one (SPEC §11), so a training pipeline switches by URL.

Files are hashed here and registered by digest (bytes stay where they are; artifact stores come
with ``prov remote``). Each record is completed here, ``created_at`` included, before the first
attempt, so a retry after a lost connection sends the same record, which the server answers with
the same id (registration is idempotent by id): retries never duplicate a record.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from provenance.records import RECORD_TYPE
from provenance.timefmt import now_text
from registry.capture import environment as env_capture
from registry.capture import git as git_capture
from registry.errors import (
    InputError,
    NotFoundError,
    RefusedError,
    RegistryError,
    StorageError,
)
from registry.results import Registered
from registry.runs import Run
from registry.workspace.hashing import FileHasher, lookup_target, subject_of
from registry.workspace.kinds import add_arguments, guess_kind

if TYPE_CHECKING:
    import httpx
    import networkx

__all__ = ["RemoteRegistry"]

#: Attempts per request on connection errors, and the first pause between them (doubling).
ATTEMPTS = 5
BACKOFF_S = 0.2
_BATCH = 1000


def _error(response: httpx.Response) -> RegistryError:
    try:
        body = response.json()
        detail = str(body.get("detail") or body.get("title"))
    except ValueError:
        detail = response.text[:200] or response.reason_phrase
    status = response.status_code
    if status == 404:
        return NotFoundError(detail)
    if status in (401, 403, 423):
        return RefusedError(f"{detail} (HTTP {status})")
    if status >= 500:
        return StorageError(f"the server failed: {detail} (HTTP {status})")
    return InputError(detail)


class RemoteRegistry:
    """A registry served over HTTP. Made by :meth:`Registry.connect`."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request, retried on connection errors (never on an answer); the JSON body.

        Raises:
            StorageError: the server stayed unreachable, or failed.
            RegistryError: the server's problem+json, as the CLI's exception.
        """
        import httpx

        pause = BACKOFF_S
        for attempt in range(ATTEMPTS):
            try:
                response = self._http.request(method, path, **kwargs)
                break
            except httpx.TransportError as e:
                if attempt == ATTEMPTS - 1:
                    raise StorageError(f"cannot reach {self.url}: {e}") from None
                time.sleep(pause)
                pause *= 2
        if response.status_code >= 400:
            raise _error(response)
        return response.json()

    def _get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params={k: v for k, v in params.items() if v is not None})

    # ------------------------------------------------------------------ writing

    def _complete(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return {"type": RECORD_TYPE, "created_at": now_text(), **record}

    def _registered(self, result: Mapping[str, Any], record: Mapping[str, Any]) -> Registered:
        return Registered(
            result["id"], int(result["seq"]), dict(record), "", result.get("existing", False)
        )

    def register(self, records: Iterable[Mapping[str, Any]]) -> list[Registered]:
        """Register records in batches of up to 1,000, each batch one transaction on the
        server; ``created_by`` becomes the token's principal."""
        out: list[Registered] = []
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            body = [{"record": r} for r in batch]
            answer = self._request("POST", "/v1/records/batch", json=body)
            out.extend(
                self._registered(a, r) for a, r in zip(answer["results"], batch, strict=True)
            )
            batch.clear()

        for rec in records:
            batch.append(self._complete(rec))
            if len(batch) >= _BATCH:
                flush()
        if batch:
            flush()
        return out

    def register_one(self, record: Mapping[str, Any]) -> Registered:
        """Register one record (``POST /v1/records``)."""
        full = self._complete(record)
        answer = self._request("POST", "/v1/records", json={"record": full})
        return self._registered(answer, full)

    def submit_envelope(self, envelope: Mapping[str, Any]) -> dict[str, Any]:
        """Register a DSSE envelope signed here with a key the log trusts."""
        return dict(self._request("POST", "/v1/records", json=dict(envelope)))

    def add(
        self,
        path: str | os.PathLike[str],
        kind: str | None = None,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        links: Sequence[tuple[str, str]] = (),
        follow_links_outside: bool = False,
    ) -> Registered:
        """Hash a file or directory here and register it by digest: the latest record of the
        name with the same bytes (and links) is returned, new bytes supersede it. Directories
        are walked as :meth:`Registry.add <registry.service.Registry.add>` walks them."""
        p, wanted = add_arguments(path, kind, links, self.resolve)
        subject, _ = subject_of(p, FileHasher({}, None), None, follow_links_outside)
        name = name or p.as_posix()
        latest = self._latest(name)
        if latest is not None:
            record = latest["record"]
            have = (record.get("subject") or {}).get("digest", {})
            same = have.get("sha256") == subject["digest"]["sha256"]
            if (
                same
                and all(ln in record.get("links", []) for ln in wanted)
                and (kind is None or kind == record["kind"])
            ):
                return self._registered({**latest, "existing": True}, record)
            if not any(ln["rel"] == "supersedes" for ln in wanted):
                wanted.append({"rel": "supersedes", "id": latest["id"]})
        record = {
            "kind": kind or (latest["record"]["kind"] if latest else guess_kind(p)),
            "name": name,
            "subject": subject,
        }
        if wanted:
            record["links"] = wanted
        if tags:
            record["tags"] = dict(tags)
        return self.register_one(record)

    def _named(self, kind: str | None, name: str, limit: int = 50) -> list[dict[str, Any]]:
        # `name` is a glob whose * and ? also match themselves: keep the exact matches.
        rows = self._get("/v1/records", kind=kind, name=name, limit=limit)["records"]
        return [r for r in rows if r["name"] == name]

    def _latest(self, name: str) -> dict[str, Any] | None:
        for row in self._named(None, name):
            if row["kind"] in ("dataset", "model"):
                return dict(self.show(row["id"]))
        return None

    def _register_once(self, kind: str, name: str, attributes: Mapping[str, Any]) -> Registered:
        for row in self._named(kind, name, 10):
            shown = self.show(row["id"])
            if shown["record"].get("attributes") == attributes:
                return self._registered({**shown, "existing": True}, shown["record"])
        return self.register_one({"kind": kind, "name": name, "attributes": dict(attributes)})

    def code(self, repo: str | os.PathLike[str] = ".") -> Registered:
        """Register the git commit checked out at ``repo`` (as :meth:`Registry.code`)."""
        return self._register_once("code", *git_capture.capture_code(repo))

    def environment(self, project: str | os.PathLike[str] | None = None) -> Registered:
        """Capture and register this environment (as :meth:`Registry.environment`)."""
        where = git_capture.project_of(project)
        return self._register_once("environment", *env_capture.capture_environment(where))

    def run(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        capture_code: bool = True,
        capture_environment: bool = True,
        command: str | None = None,
    ) -> Run:
        """A run to use as a context manager, as :meth:`Registry.run`."""
        return Run(self, name, params, capture_code, capture_environment, command)

    # ------------------------------------------------------------------ reading

    def resolve(self, ref: str) -> str:
        return str(self.show(ref)["id"])

    def show(self, ref: str) -> dict[str, Any]:
        return dict(self._get(f"/v1/records/{ref}"))

    def log(
        self, kind: str | None = None, name: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Records newest first, following the server's cursor."""
        out: list[dict[str, Any]] = []
        after = None
        while limit is None or len(out) < limit:
            page = self._get(
                "/v1/records",
                kind=kind,
                name=name,
                after=after,
                limit=min(1000, limit - len(out)) if limit else 1000,
            )
            out.extend(page["records"])
            after = page["next"]
            if after is None:
                break
        return out

    def lookup(self, target: str) -> list[dict[str, Any]]:
        """Records whose bytes are a local file's or directory's, or a digest's."""
        algorithm, hex_digest = lookup_target(target, lambda p: FileHasher({}, None))
        return list(self._get(f"/v1/lookup/{algorithm}/{hex_digest}")["records"])

    def lineage(
        self, ref: str, direction: str = "up", depth: int | None = None, as_of: str | None = None
    ) -> networkx.DiGraph[str]:
        """Lineage as a networkx DiGraph, as :meth:`Registry.lineage` returns it."""
        import networkx

        answer = self._get(
            f"/v1/records/{ref}/lineage", direction=direction, depth=depth, as_of=as_of
        )
        graph: networkx.DiGraph[str] = networkx.DiGraph()
        for node in answer["nodes"]:
            graph.add_node(node["id"], **{k: v for k, v in node.items() if k != "id"})
        for edge in answer["edges"]:
            graph.add_edge(edge["from"], edge["to"], rel=edge["rel"])
        return graph

    def checkpoint(self) -> dict[str, Any]:
        return dict(self._get("/v1/log/checkpoint"))

    def inclusion_proof(self, ref: str, size: int | None = None) -> dict[str, Any]:
        return dict(self._get("/v1/log/proof/inclusion", id=ref, size=size))

    def consistency_proof(self, old: int, new: int | None = None) -> dict[str, Any]:
        return dict(self._get("/v1/log/proof/consistency", old=old, new=new))

    def verify(self, full: bool = False, content: bool = False) -> dict[str, Any]:
        """The server's verification report (needs an auditor token)."""
        return dict(self._get("/v1/verify", full=full, content=content))
