"""Lineage queries against an independent reference: networkx over the whole graph."""

from __future__ import annotations

import json
import random

import networkx as nx
import pytest

from registry.errors import InputError, NotFoundError
from registry.service import Registry
from registry.service.lineage import WALKED
from tests.helpers import run_prov

LAYERS = 12


@pytest.fixture(params=["sqlite", "postgresql"])
def ml_graph(request, tmp_path, monkeypatch):
    """Layers of datasets and runs: each run uses 2-4 earlier artifacts (fan-in) and generates
    1-3 new ones (fan-out); some artifacts are derived_from others; depth ≥ 2 × LAYERS."""
    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    reg = Registry.init(tmp_path, database_url=url)
    request.addfinalizer(reg.close)
    rng = random.Random(5)
    artifacts = [
        r.id
        for r in reg.register(
            {
                "kind": "dataset",
                "name": f"raw/{i}",
                "subject": {"digest": {"sha256": f"{i:064x}"}, "size": i},
            }
            for i in range(4)
        )
    ]
    code = reg.register([{"kind": "code", "name": "repo", "attributes": {"commit": "a" * 40}}])[0]
    cuts = []
    for layer in range(LAYERS):
        runs = reg.register(
            {
                "kind": "run",
                "name": f"train/{layer}/{j}",
                "links": [
                    {"rel": "used", "id": a}
                    for a in rng.sample(artifacts, min(len(artifacts), rng.randint(2, 4)))
                ]
                + [{"rel": "code", "id": code.id}],
            }
            for j in range(2)
        )
        outs = []
        for j, run in enumerate(runs):
            for k in range(rng.randint(1, 3)):
                links = [{"rel": "generated_by", "id": run.id}]
                if rng.random() < 0.3:
                    links.append({"rel": "derived_from", "id": rng.choice(artifacts)})
                outs.append(
                    {
                        "kind": "model" if k == 0 else "dataset",
                        "name": f"out/{layer}/{j}/{k}",
                        "links": links,
                        "subject": {"digest": {"sha256": f"{layer:08x}{j:08x}{k:048x}"}, "size": k},
                    }
                )
        artifacts += [r.id for r in reg.register(outs)]
        cuts.append(reg.log(limit=1)[0]["logged_at"])
    # An attestation and a new version: not provenance, never walked.
    reg.attest(artifacts[-1], "approval", {"by": "risk"})
    g = nx.DiGraph()
    seq = {}
    for r in reg.log():
        g.add_node(r["id"])
        seq[r["id"]] = r["seq"]
        for ln in reg.get(r["id"]).record.get("links", []):
            if ln["rel"] in WALKED:
                g.add_edge(r["id"], ln["id"])
    return reg, g, seq, artifacts, cuts


def expected(g, root, direction, depth=None):
    graphs = {"up": g, "down": g.reverse(copy=False)}
    out = set()
    for d in ("up", "down") if direction == "both" else (direction,):
        out |= set(nx.single_source_shortest_path_length(graphs[d], root, cutoff=depth))
    return out


def expected_edges(g, root, direction, depth=None):
    """The links among the records reached, in each direction walked."""
    out = set()
    for d in ("up", "down") if direction == "both" else (direction,):
        out |= set(g.subgraph(expected(g, root, d, depth)).edges)
    return out


def test_upstream_and_downstream_match_the_reference_in_every_mode(ml_graph):
    reg, g, _, artifacts, _ = ml_graph
    models = artifacts[4:]
    assert nx.dag_longest_path_length(g) >= 10
    for root in [models[-1], models[len(models) // 2], artifacts[0], artifacts[1]]:
        for direction in ("up", "down", "both"):
            for depth in (None, 0, 1, 3, 7):
                got = reg.lineage_query(root, direction, depth)
                assert set(got.nodes) == expected(g, root, direction, depth), (direction, depth)
                edges = {(s, d) for s, _, d in got.edges}
                assert edges == expected_edges(g, root, direction, depth), (direction, depth)
                # The impact-set form: the same records, read without their links.
                bare = reg.lineage_query(root, direction, depth, edges=False)
                assert bare.nodes == got.nodes and not bare.edges
                # The API's form, built by the database: the same answer in the same order.
                assert json.loads(reg.lineage_json(root, direction, depth)) == got.to_json()


def test_as_of_answers_from_the_log_as_it_stood(ml_graph):
    reg, g, seq, artifacts, cuts = ml_graph
    cutoff_time = cuts[5]
    cutoff = max(s for i, s in seq.items() if reg.show(i)["logged_at"] <= cutoff_time)
    then = g.subgraph([n for n in g if seq[n] <= cutoff])
    for root in (artifacts[0], artifacts[2]):
        got = reg.lineage_query(root, "down", as_of=cutoff_time)
        assert set(got.nodes) == expected(then, root, "down")
        assert {(s, d) for s, _, d in got.edges} == expected_edges(then, root, "down")
        assert set(reg.lineage_query(root, "down", as_of=cutoff_time, edges=False).nodes) == set(
            got.nodes
        )
        assert set(got.nodes) < expected(g, root, "down")
        assert json.loads(reg.lineage_json(root, "down", as_of=cutoff_time)) == got.to_json()
        got = reg.lineage_query(root, "down", depth=4, as_of=cutoff_time)
        assert set(got.nodes) == expected(then, root, "down", 4)
        assert json.loads(reg.lineage_json(root, "both", 4, cutoff_time)) == (
            reg.lineage_query(root, "both", 4, cutoff_time).to_json()
        )
    late = artifacts[-1]
    with pytest.raises(NotFoundError, match="not in the log"):
        reg.lineage_query(late, "up", as_of=cutoff_time)
    with pytest.raises(NotFoundError, match="not in the log"):
        reg.lineage_json(late, "up", as_of=cutoff_time)


def test_networkx_graph_api_as_in_the_spec(ml_graph):
    reg, g, _, artifacts, _ = ml_graph
    model = artifacts[-1]
    dg = reg.lineage(model, direction="up")
    assert set(dg.nodes) == expected(g, model, "up")
    assert dg.nodes[model]["kind"] in ("model", "dataset")
    assert all(dg.edges[e]["rel"] in WALKED for e in dg.edges)
    assert nx.is_directed_acyclic_graph(dg)


def test_cycles_are_impossible_by_construction(reg):
    a = reg.register(
        [{"kind": "dataset", "name": "a", "subject": {"digest": {"sha256": "1" * 64}, "size": 1}}]
    )[0]
    # A record can only link to ids already in the log: linking to one not yet registered (so
    # that it could later link back) fails, and a record cannot name its own id, which is the
    # hash of its content, links included.
    future = {
        "kind": "dataset",
        "name": "b",
        "created_at": "2026-01-01T00:00:00.000000Z",
        "subject": {"digest": {"sha256": "2" * 64}, "size": 2},
        "links": [{"rel": "derived_from", "id": a.id}],
    }
    from provenance.records import encode_record

    future_id, _ = encode_record({"type": "prov.record/v1", "created_by": "x@y", **future})
    with pytest.raises(NotFoundError, match="not a registered record"):
        reg.register(
            [
                {
                    "kind": "dataset",
                    "name": "a2",
                    "links": [{"rel": "derived_from", "id": future_id}],
                    "subject": {"digest": {"sha256": "3" * 64}, "size": 3},
                }
            ]
        )
    assert nx.is_directed_acyclic_graph(reg.lineage(a.id, "both"))


def test_bad_lineage_arguments(reg):
    rid = reg.log()[0]["id"]
    with pytest.raises(InputError):
        reg.lineage_query(rid, "sideways")
    with pytest.raises(InputError):
        reg.lineage_query(rid, as_of="last tuesday")


def test_cli_lineage_formats(ml_graph, tmp_path):
    reg, g, _, artifacts, _ = ml_graph
    model = artifacts[-1]
    reg.close()
    j = run_prov("lineage", model[7:19], "--json", cwd=tmp_path)
    assert j.code == 0, j
    doc = j.json()
    assert doc["root"] == model and {"id", "kind", "name"} <= doc["nodes"][0].keys()
    assert {n["id"] for n in doc["nodes"]} == expected(g, model, "up")
    assert {(e["from"], e["to"]) for e in doc["edges"]} <= set(g.edges)
    tree = run_prov("lineage", model[7:19], cwd=tmp_path)
    assert tree.code == 0 and model[7:19] in tree.out and "generated_by" in tree.out
    dot = run_prov("lineage", model[7:19], "--down", "--format", "dot", cwd=tmp_path)
    assert dot.out.startswith("digraph lineage {")
    mer = run_prov("lineage", artifacts[0][7:19], "--down", "--format", "mermaid", cwd=tmp_path)
    assert mer.out.startswith("flowchart BT") and "-->|used|" in mer.out
    listed = run_prov("lineage", artifacts[0][7:19], "--down", "--format", "list", cwd=tmp_path)
    lines = [line.split("\t") for line in listed.out.splitlines()]
    assert {line[0] for line in lines} == expected(g, artifacts[0], "down")
    assert lines[0][:3] == [artifacts[0], "dataset", "raw/0"]  # oldest first: the root
    assert {line[1] for line in lines} == {"dataset", "run", "model"}
    bad = run_prov("lineage", model[7:19], "--up", "--down", cwd=tmp_path)
    assert bad.code == 2


def test_a_logged_record_missing_from_the_query_tables_is_reported(reg):
    from sqlalchemy import text

    rid = reg.register(
        [{"kind": "dataset", "name": "d", "subject": {"digest": {"sha256": "4" * 64}, "size": 4}}]
    )[0].id
    with reg.engine.begin() as conn:  # as a damaged or half-rebuilt database would be
        conn.execute(text("DELETE FROM records WHERE id = :i"), {"i": rid})
    with pytest.raises(NotFoundError, match="not indexed: run prov verify --full"):
        reg.lineage_query(rid, "down")
    with pytest.raises(NotFoundError, match="not indexed: run prov verify --full"):
        reg.lineage_json(rid, "down")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_database_built_json_escapes_every_name(backend, request, tmp_path, monkeypatch):
    """Names with quotes, backslashes, separators and non-ASCII text come out of the
    database's JSON functions as Python's encoder writes them, and links to records that are
    not logged are left out alike."""
    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    reg = Registry.init(tmp_path, database_url=url)
    request.addfinalizer(reg.close)
    names = ['quo"te', "back\\slash", "line\u2028sep", "données/日本語/😀", "</script>"]
    data = reg.register(
        {"kind": "dataset", "name": n, "subject": {"digest": {"sha256": f"{i:064x}"}, "size": i}}
        for i, n in enumerate(names)
    )
    run = reg.register(
        [{"kind": "run", "name": "r\u2028", "links": [{"rel": "used", "id": d.id} for d in data]}]
    )[0]
    for root, direction in ((run.id, "up"), (data[0].id, "down"), (data[3].id, "both")):
        text = reg.lineage_json(root, direction)
        assert json.loads(text) == reg.lineage_query(root, direction).to_json()
    assert {n["name"] for n in json.loads(reg.lineage_json(run.id))["nodes"]} == {
        *names,
        "r\u2028",
    }


def test_a_depth_bound_walk_visits_each_record_once(tmp_path, monkeypatch):
    """Issue 15, item 13: a walk bounded by --depth reads each record's links once, at its least
    depth; the recursive CTE carrying the depth revisited a record once per path length (4,000
    records: 39 s a request). Measured in SQLite virtual machine steps, which do not vary."""
    from sqlalchemy import event

    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    reg = Registry.init(tmp_path, retention=None)
    ids: list[str] = []
    for i in range(80):  # each record derived from every earlier one: paths of every length
        links = [{"rel": "derived_from", "id": x} for x in ids]
        subject = {"digest": {"sha256": f"{i:064x}", "md5": f"{i:032x}"}, "size": i}
        ids.append(reg.register([{"kind": "dataset", "name": f"d{i}", "subject": subject,
                                  "links": links}])[0].id)  # fmt: skip
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    event.listen(reg.engine, "checkout", lambda c, *_: c.set_progress_handler(count, 100))

    def work(depth):
        steps[0] = 0
        answer = reg.lineage_query(ids[-1], "up", depth)
        return steps[0], answer

    unbounded, everything = work(None)
    bounded, same = work(80)
    assert set(same.nodes) == set(everything.nodes) and same.edges == everything.edges
    assert bounded <= 3 * unbounded, (bounded, unbounded)
    reg.close()


def test_an_answer_past_the_row_bound_is_an_input_error(tmp_path, monkeypatch):
    import registry.service.lineage as lineage_module

    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    reg = Registry.init(tmp_path, retention=None)
    a = reg.register([{"kind": "dataset", "name": "a", "subject": _bytes(1)}])[0]
    b = reg.register([{"kind": "dataset", "name": "b", "subject": _bytes(2),
                       "links": [{"rel": "derived_from", "id": a.id}]}])[0]  # fmt: skip
    monkeypatch.setattr(lineage_module, "MAX_ROWS", 2)
    for depth in (None, 5):
        with pytest.raises(InputError, match="narrow it"):
            reg.lineage_query(a.id, "down", depth)
        with pytest.raises(InputError, match="narrow it"):
            reg.lineage_json(b.id, "up", depth)
    reg.close()


def _bytes(i: int) -> dict:
    return {"digest": {"sha256": f"{i:064x}", "md5": f"{i:032x}"}, "size": i}
