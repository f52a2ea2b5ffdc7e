"""The clients that talk to ``prov serve``: ``Registry.connect`` (with retries that never
duplicate) and the real openlineage-python client."""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from pathlib import Path

import pytest
import requests

from registry.errors import InputError, NotFoundError, RefusedError
from registry.service import Registry
from tests.helpers import run_prov, write


def test_remote_registry_has_the_local_interface(live, tmp_path, monkeypatch):
    remote = Registry.connect(live.url, token=live.tokens["writer"])
    data = write(tmp_path / "work" / "train.csv", "a,b\n1,2\n")
    ds = remote.add(data, name="train.csv")
    assert remote.add(data, name="train.csv").id == ds.id  # same bytes: the same record
    assert remote.lookup(str(data))[0]["id"] == ds.id
    monkeypatch.chdir(tmp_path / "work")
    with remote.run("train", params={"lr": 0.1}, capture_code=False) as run:
        run.use(ds)
        run.log_metric("auc", 0.9)
        write(tmp_path / "work" / "model.bin", b"weights")
        run.output(tmp_path / "work" / "model.bin", kind="model", name="model.bin")
    model = run.outputs[0]
    graph = remote.lineage(model.id, "up")
    local = live.reg.lineage(model.id, "up")
    assert set(graph.edges) == set(local.edges) and set(graph.nodes) == set(local.nodes)
    assert {graph.nodes[n]["kind"] for n in graph} == {"model", "run", "dataset", "environment"}
    shown = remote.show(run.id)
    assert shown["record"]["created_by"] == "writer-1"
    assert shown["record"]["attributes"]["metrics"] == {"auc": 0.9}
    assert remote.environment().id == run.environment.id  # captured once, found again
    changed = write(tmp_path / "work" / "train.csv", "a,b\n1,3\n")
    v2 = remote.add(changed, name="train.csv")
    assert {"rel": "supersedes", "id": ds.id} in remote.show(v2.id)["record"]["links"]
    assert [r["id"] for r in remote.log(kind="dataset", limit=1)] == [v2.id]
    with pytest.raises(NotFoundError):
        remote.show("abcdef0123")
    with pytest.raises(InputError):
        remote.register([{"kind": "dataset", "name": "no-subject"}])
    with pytest.raises(RefusedError):
        remote.verify()  # a writer is not an auditor
    auditor = Registry.connect(live.url, token=live.tokens["auditor"])
    assert auditor.verify(full=True)["ok"] is True
    assert auditor.inclusion_proof(model.id)["leaf_index"] == model.seq


class DropFirstResponses:
    """A TCP proxy that forwards requests to the server but, for the first ``drop`` POSTs,
    hangs up instead of passing the answer back: the server has done the work (registered the
    record) and the client never hears of it."""

    def __init__(self, upstream: str, drop: int) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.drop = drop
        self._lock = threading.Lock()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _take_drop(self) -> bool:
        with self._lock:
            self.drop -= 1
            return self.drop >= 0

    def _pipe(self, client: socket.socket) -> None:
        up = socket.create_connection(self.upstream)
        posted = threading.Event()  # set before a POST reaches the server

        def forward() -> None:
            try:
                while chunk := client.recv(65536):
                    if chunk.startswith(b"POST "):
                        posted.set()
                    up.sendall(chunk)
            except OSError:
                pass

        threading.Thread(target=forward, daemon=True).start()
        try:
            while chunk := up.recv(65536):
                if posted.is_set() and self._take_drop():
                    break  # the answer is here: the record is registered; hang up on the client
                client.sendall(chunk)
        except OSError:
            pass
        # shutdown, not just close: another thread blocks in client.recv, which keeps the
        # socket open (no FIN) after a close, and the client would wait for its timeout.
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RDWR)
        client.close()
        up.close()

    def close(self) -> None:
        self.sock.close()


def test_retries_after_a_lost_answer_never_duplicate(live, tmp_path):
    proxy = DropFirstResponses(live.url, drop=2)
    try:
        remote = Registry.connect(proxy.url, token=live.tokens["writer"])
        data = write(tmp_path / "x.bin", b"retry me")
        before = len(live.reg.log())
        added = remote.add(data, name="x.bin")  # two answers lost, then the third arrives
        assert proxy.drop < 0  # every drop was used
        assert len(live.reg.log()) == before + 1
        assert live.reg.show(added.id)["record"]["name"] == "x.bin"
        batch = remote.register([{"kind": "run", "name": f"r{i}"} for i in range(3)])
        assert len({r.id for r in batch}) == 3 and len(live.reg.log()) == before + 4
    finally:
        proxy.close()


def _openlineage_client(url: str, token: str):
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

    config = HttpConfig(url=url, auth=ApiKeyTokenProvider({"apiKey": token}), retry={"total": 0})
    return OpenLineageClient(transport=HttpTransport(config))


def _events(run_id: str, end: str = "COMPLETE"):
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent
    from openlineage.client.facet_v2 import schema_dataset

    schema = schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name="amount", type="DOUBLE")]
    )
    job = Job(namespace="airflow://prod", name="etl.build_features")
    inputs = [
        InputDataset(
            namespace="postgres://db:5432", name="bank.public.loans", facets={"schema": schema}
        )
    ]
    outputs = [OutputDataset(namespace="s3://features", name="loans/2026-11-21.parquet")]
    return [
        RunEvent(
            eventType="START",
            eventTime="2026-11-21T10:00:00.000Z",
            run=Run(runId=run_id),
            job=job,
            inputs=inputs,
            producer="https://example.org/airflow",
        ),
        RunEvent(
            eventType=end,
            eventTime="2026-11-21T10:05:00.000Z",
            run=Run(runId=run_id),
            job=job,
            inputs=inputs,
            outputs=outputs,
            producer="https://example.org/airflow",
        ),
    ]


def test_openlineage_client_events_become_lineage(live):
    client = _openlineage_client(live.url, live.tokens["writer"])
    run_id = str(uuid.uuid4())
    start, complete = _events(run_id)
    client.emit(start)
    assert live.reg.log(kind="run") == []  # a run is registered when it ends
    client.emit(complete)
    output = live.reg.log(name="s3://features/loans/2026-11-21.parquet")[0]
    answer = run_prov("lineage", output["id"], "--up", "--format", "json", cwd=live.reg.root)
    assert answer.code == 0, answer
    nodes = {n["name"]: n for n in answer.json()["nodes"]}
    assert set(nodes) == {
        "s3://features/loans/2026-11-21.parquet",
        "etl.build_features",
        "postgres://db:5432/bank.public.loans",
    }
    run = live.reg.show(nodes["etl.build_features"]["id"])["record"]
    assert run["created_by"] == "writer-1"
    attrs = run["attributes"]
    assert attrs["status"] == "succeeded" and attrs["started_at"] == "2026-11-21T10:00:00.000000Z"
    assert attrs["openlineage"]["runId"] == run_id
    assert attrs["openlineage"]["job"]["namespace"] == "airflow://prod"
    loans = live.reg.show(nodes["postgres://db:5432/bank.public.loans"]["id"])["record"]
    assert loans["attributes"]["openlineage"]["facets"]["schema"]["fields"][0]["name"] == "amount"
    # The same COMPLETE delivered again (a client retry): nothing new.
    size = live.reg.checkpoint()["tree_size"]
    client.emit(complete)
    assert live.reg.checkpoint()["tree_size"] == size
    # A second run reading the same table reuses its record.
    client2 = _openlineage_client(live.url, live.tokens["writer"])
    for event in _events(str(uuid.uuid4()), "FAIL"):
        client2.emit(event)
    failed = live.reg.log(kind="run")[0]
    shown = live.reg.show(failed["id"])["record"]
    assert shown["attributes"]["status"] == "failed"
    assert {"rel": "used", "id": loans_id(live)} in shown["links"]
    assert len(live.reg.log(name="s3://features/*")) == 1  # a failed run generated nothing


def loans_id(live) -> str:
    return live.reg.log(name="postgres://db:5432/bank.public.loans")[0]["id"]


@pytest.mark.parametrize("role", ["reader", "auditor", None])
def test_openlineage_events_need_a_writer(live, role):
    client = _openlineage_client(live.url, live.tokens[role] if role else "prov_" + "x" * 43)
    size = live.reg.checkpoint()["tree_size"]
    for event in _events(str(uuid.uuid4())):
        with pytest.raises(requests.HTTPError) as caught:
            client.emit(event)
        assert caught.value.response.status_code == (403 if role else 401)
    assert live.reg.checkpoint()["tree_size"] == size


def test_malformed_openlineage_events_are_problems(live):
    w = live.client("writer")
    good = {
        "eventType": "COMPLETE",
        "eventTime": "2026-11-21T10:00:00Z",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "n", "name": "j"},
    }
    for bad in (
        {**good, "run": {"runId": "not-a-uuid"}},
        {**good, "eventType": "EXPLODED"},
        {**good, "eventTime": "tuesday"},
        {**good, "job": {"namespace": "n"}},
        {**good, "inputs": [{"namespace": "n"}]},
        {"dataset": {"namespace": "n", "name": "static"}, "eventTime": "2026-11-21T10:00:00Z"},
    ):
        response = w.post("/api/v1/lineage", json=bad)
        assert response.status_code == 422, (bad, response.text)
    assert live.reg.log(kind="run") == []


def test_the_remote_path_resolves_relative_names(live, tmp_path):
    """`add` names a file by the path given, as the local registry names it from its root."""
    remote = Registry.connect(live.url, token=live.tokens["writer"])
    data = write(tmp_path / "d" / "f.txt", "x")
    assert remote.add(Path(data), name="d/f.txt").name == "d/f.txt"
