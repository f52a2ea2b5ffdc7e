"""A loopback lakeFS for tests: the operations of lakeFS's HTTP API (``api/swagger.yml``, lakeFS
1.x) that prov's lakeFS store and its tests call, with the same paths, JSON bodies, status codes
and headers, driven by the real ``lakefs`` SDK. No lakeFS server can be installed on these
machines; setting ``LAKEFS_ENDPOINT`` runs the same tests against a real one (tests/registry/
test_lakefs_store.py).

Under ``/api/v1``, HTTP Basic auth:

====== ================================================== ==========================
GET    /repositories/{repository}                          getRepository
POST   /repositories                                       createRepository
GET    /repositories/{repository}/branches/{branch}        getBranch
POST   /repositories/{repository}/branches                 createBranch
POST   /repositories/{repository}/branches/{branch}/commits commit (``allow_empty``)
GET    /repositories/{repository}/commits/{commitId}       getCommit
POST   /repositories/{repository}/branches/{branch}/objects uploadObject (raw body)
DELETE /repositories/{repository}/branches/{branch}/objects deleteObject
HEAD   /repositories/{repository}/refs/{ref}/objects       headObject
GET    /repositories/{repository}/refs/{ref}/objects       getObject (``Range``)
GET    /repositories/{repository}/refs/{ref}/objects/stat  statObject
====== ================================================== ==========================

Anything else answers 501, so a new call the store starts making fails loudly here rather than
passing against a server that does not implement it. Like lakeFS, a branch reads its staged
(uncommitted) changes, a commit id reads the tree it committed, a commit with no changes is
refused with 400 unless ``allow_empty``, and deleting a path removes it from the branch but not
from earlier commits. Object bytes are kept in files under ``root``, never whole in memory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ACCESS_KEY", "SECRET_KEY", "FakeLakeFS"]

ACCESS_KEY = "AKIAPROVTESTLAKEFS01"
SECRET_KEY = "prov-test-lakefs-secret-0123456789"
_REPO = re.compile(r"[a-z0-9][a-z0-9-]{2,62}")
_BRANCH = re.compile(r"\w[-\w]*")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_META = "x-lakefs-meta-"


@dataclass
class Entry:
    address: str
    checksum: str
    size: int
    mtime: int
    metadata: dict[str, str]
    content_type: str


@dataclass
class Commit:
    id: str
    parents: list[str]
    message: str
    metadata: dict[str, str]
    creation_date: int
    tree: dict[str, Entry]

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parents": self.parents,
            "committer": "prov-test",
            "message": self.message,
            "creation_date": self.creation_date,
            "meta_range_id": hashlib.sha256(
                json.dumps(sorted((p, e.address) for p, e in self.tree.items())).encode()
            ).hexdigest(),
            "metadata": self.metadata,
        }


@dataclass
class Branch:
    commit_id: str
    staged: dict[str, Entry | None] = field(default_factory=dict)


@dataclass
class Repo:
    id: str
    storage_namespace: str
    default_branch: str
    creation_date: int
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, Branch] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "creation_date": self.creation_date,
            "default_branch": self.default_branch,
            "storage_namespace": self.storage_namespace,
        }


class _Problem(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message


class FakeLakeFS:
    """The server's state and its ASGI app (:attr:`app`); serve it with
    :func:`tests.support.asgi.serve`. ``calls`` lists ``(method, operation)`` as answered."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repos: dict[str, Repo] = {}
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self.app = self._build()

    # -- state -----------------------------------------------------------------------------

    def _repo(self, name: str) -> Repo:
        repo = self.repos.get(name)
        if repo is None:
            raise _Problem(404, "repository not found")
        return repo

    def _branch(self, repo: Repo, name: str) -> Branch:
        branch = repo.branches.get(name)
        if branch is None:
            raise _Problem(404, "branch not found")
        return branch

    def _tree(self, repo: Repo, ref: str) -> dict[str, Entry]:
        """What ``ref`` reads: a branch's head with its staged changes, or a commit's tree."""
        if ref in repo.branches:
            branch = repo.branches[ref]
            tree = dict(repo.commits[branch.commit_id].tree)
            for path, entry in branch.staged.items():
                if entry is None:
                    tree.pop(path, None)
                else:
                    tree[path] = entry
            return tree
        if ref in repo.commits:
            return repo.commits[ref].tree
        raise _Problem(404, f"ref {ref}: not found")

    def _entry(self, repo: Repo, ref: str, path: str) -> Entry:
        if not path:
            raise _Problem(400, "path is required")
        entry = self._tree(repo, ref).get(path)
        if entry is None:
            raise _Problem(404, "not found")
        return entry

    def _commit(self, repo: Repo, parents: list[str], message: str, meta: dict, tree) -> Commit:
        now = int(time.time())
        cid = hashlib.sha256(
            json.dumps([parents, message, meta, now, secrets.token_hex(8)]).encode()
        ).hexdigest()
        commit = Commit(cid, parents, message, dict(meta), now, dict(tree))
        repo.commits[cid] = commit
        return commit

    def _stats(self, path: str, e: Entry) -> dict[str, Any]:
        return {
            "path": path,
            "path_type": "object",
            "physical_address": e.address,
            "checksum": e.checksum,
            "size_bytes": e.size,
            "mtime": e.mtime,
            "metadata": e.metadata,
            "content_type": e.content_type,
        }

    # -- the app ---------------------------------------------------------------------------

    def _build(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        def error(status: int, message: str) -> Response:
            return JSONResponse({"message": message}, status_code=status)

        def authorized(request: Request) -> bool:
            header = request.headers.get("authorization", "")
            if not header.startswith("Basic "):
                return False
            try:
                key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return False
            return secrets.compare_digest(f"{key}:{secret}", f"{ACCESS_KEY}:{SECRET_KEY}")

        def operation(name: str, handler):
            async def endpoint(request: Request) -> Response:
                if not authorized(request):
                    return error(401, "error authenticating request")
                try:
                    response = await handler(request, **request.path_params)
                except _Problem as p:
                    response = error(p.status, p.message)
                self.calls.append((request.method, name))
                return response

            return endpoint

        async def get_repository(request: Request, repository: str) -> Response:
            return JSONResponse(self._repo(repository).json())

        async def create_repository(request: Request) -> Response:
            body = await request.json()
            name = body.get("name", "")
            if not _REPO.fullmatch(name) or not body.get("storage_namespace"):
                raise _Problem(400, "invalid repository name or storage namespace")
            with self._lock:
                if name in self.repos:
                    raise _Problem(409, "repository already exists")
                default = body.get("default_branch") or "main"
                repo = Repo(name, body["storage_namespace"], default, int(time.time()))
                first = self._commit(repo, [], "Repository created", {}, {})
                repo.branches[default] = Branch(first.id)
                self.repos[name] = repo
            return JSONResponse(repo.json(), status_code=201)

        async def get_branch(request: Request, repository: str, branch: str) -> Response:
            b = self._branch(self._repo(repository), branch)
            return JSONResponse({"id": branch, "commit_id": b.commit_id})

        async def create_branch(request: Request, repository: str) -> Response:
            body = await request.json()
            repo = self._repo(repository)
            name, source = body.get("name", ""), body.get("source", "")
            if not _BRANCH.fullmatch(name):
                raise _Problem(400, "invalid branch name")
            with self._lock:
                if name in repo.branches:
                    raise _Problem(409, "branch already exists")
                if source in repo.branches:
                    head = repo.branches[source].commit_id
                elif source in repo.commits:
                    head = source
                else:
                    raise _Problem(404, "source reference not found")
                repo.branches[name] = Branch(head)
            return Response(head, status_code=201, media_type="text/html")

        async def commit(request: Request, repository: str, branch: str) -> Response:
            body = await request.json()
            if not isinstance(body.get("message"), str):
                raise _Problem(400, "message is required")
            meta = body.get("metadata") or {}
            if not all(isinstance(v, str) for v in meta.values()):
                raise _Problem(400, "metadata values must be strings")
            repo = self._repo(repository)
            with self._lock:
                b = self._branch(repo, branch)
                tree = self._tree(repo, branch)
                if tree == repo.commits[b.commit_id].tree and not body.get("allow_empty"):
                    raise _Problem(400, "commit: no changes")
                made = self._commit(repo, [b.commit_id], body["message"], meta, tree)
                b.commit_id, b.staged = made.id, {}
            return JSONResponse(made.json(), status_code=201)

        async def get_commit(request: Request, repository: str, commit_id: str) -> Response:
            made = self._repo(repository).commits.get(commit_id)
            if made is None:
                raise _Problem(404, "commit not found")
            return JSONResponse(made.json())

        async def upload_object(request: Request, repository: str, branch: str) -> Response:
            repo = self._repo(repository)
            self._branch(repo, branch)
            path = request.query_params.get("path", "")
            if not path:
                raise _Problem(400, "path is required")
            if request.headers.get("content-type", "").startswith("multipart/"):
                raise _Problem(501, "multipart upload is not implemented by the test server")
            if request.headers.get("if-none-match") == "*" and path in self._tree(repo, branch):
                raise _Problem(412, "object already exists")
            address = f"data/{uuid.uuid4().hex}"
            blob = self.root / address
            blob.parent.mkdir(parents=True, exist_ok=True)
            md5, size = hashlib.md5(), 0
            with blob.open("wb") as f:
                async for chunk in request.stream():  # de-chunked by the server
                    f.write(chunk)
                    md5.update(chunk)
                    size += len(chunk)
            meta = {k[len(_META) :]: v for k, v in request.headers.items() if k.startswith(_META)}
            entry = Entry(
                f"{repo.storage_namespace.rstrip('/')}/{address}",
                md5.hexdigest(),
                size,
                int(time.time()),
                meta,
                request.headers.get("content-type", "application/octet-stream"),
            )
            with self._lock:
                repo.branches[branch].staged[path] = entry
            return JSONResponse(self._stats(path, entry), status_code=201)

        async def delete_object(request: Request, repository: str, branch: str) -> Response:
            repo = self._repo(repository)
            self._branch(repo, branch)
            path = request.query_params.get("path", "")
            with self._lock:
                self._entry(repo, branch, path)
                repo.branches[branch].staged[path] = None
            return Response(status_code=204)

        def blob(e: Entry) -> Path:
            return self.root / e.address.rsplit("/", 2)[-2] / e.address.rsplit("/", 1)[-1]

        def object_headers(e: Entry) -> dict[str, str]:
            return {
                "ETag": f'"{e.checksum}"',
                "Last-Modified": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(e.mtime)),
                "Accept-Ranges": "bytes",
            }

        async def head_object(request: Request, repository: str, ref: str) -> Response:
            try:
                e = self._entry(self._repo(repository), ref, request.query_params.get("path", ""))
            except _Problem as p:
                return Response(status_code=p.status)  # HEAD: no body
            headers = object_headers(e) | {"Content-Length": str(e.size)}
            return Response(status_code=200, headers=headers)

        async def get_object(request: Request, repository: str, ref: str) -> Response:
            e = self._entry(self._repo(repository), ref, request.query_params.get("path", ""))
            headers = object_headers(e)
            wanted = request.headers.get("range")
            start, end, status = 0, e.size - 1, 200
            if wanted:
                m = _RANGE.fullmatch(wanted.strip())
                if m is None or not (m.group(1) or m.group(2)):
                    raise _Problem(400, "invalid range")
                if m.group(1):
                    start = int(m.group(1))
                    end = min(int(m.group(2)), e.size - 1) if m.group(2) else e.size - 1
                else:  # bytes=-N: the last N
                    start = max(0, e.size - int(m.group(2)))
                if start >= e.size or start > end:
                    return JSONResponse(
                        {"message": "Requested Range Not Satisfiable"},
                        status_code=416,
                        headers={"Content-Range": f"bytes */{e.size}"},
                    )
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{e.size}"
            with blob(e).open("rb") as f:
                f.seek(start)
                data = f.read(end - start + 1)
            return Response(
                data, status_code=status, headers=headers, media_type="application/octet-stream"
            )

        async def stat_object(request: Request, repository: str, ref: str) -> Response:
            path = request.query_params.get("path", "")
            return JSONResponse(self._stats(path, self._entry(self._repo(repository), ref, path)))

        async def not_implemented(request: Request, rest: str) -> Response:
            self.calls.append((request.method, f"unimplemented {rest}"))
            return error(501, f"{request.method} /{rest}: not implemented by the test server")

        r = "/api/v1/repositories"
        routes = [
            Route(f"{r}", operation("createRepository", create_repository), methods=["POST"]),
            Route(f"{r}/{{repository}}", operation("getRepository", get_repository)),
            Route(
                f"{r}/{{repository}}/branches",
                operation("createBranch", create_branch),
                methods=["POST"],
            ),
            Route(f"{r}/{{repository}}/branches/{{branch}}", operation("getBranch", get_branch)),
            Route(
                f"{r}/{{repository}}/branches/{{branch}}/commits",
                operation("commit", commit),
                methods=["POST"],
            ),
            Route(f"{r}/{{repository}}/commits/{{commit_id}}", operation("getCommit", get_commit)),
            Route(
                f"{r}/{{repository}}/branches/{{branch}}/objects",
                operation("uploadObject", upload_object),
                methods=["POST"],
            ),
            Route(
                f"{r}/{{repository}}/branches/{{branch}}/objects",
                operation("deleteObject", delete_object),
                methods=["DELETE"],
            ),
            Route(
                f"{r}/{{repository}}/refs/{{ref}}/objects/stat",
                operation("statObject", stat_object),
            ),
            Route(
                f"{r}/{{repository}}/refs/{{ref}}/objects",
                operation("headObject", head_object),
                methods=["HEAD"],
            ),
            Route(
                f"{r}/{{repository}}/refs/{{ref}}/objects",
                operation("getObject", get_object),
                methods=["GET"],
            ),
            Route(
                "/{rest:path}",
                not_implemented,
                methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
            ),
        ]
        return Starlette(routes=routes)
