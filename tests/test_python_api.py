"""SPEC §11: the embedded Python API, as a training pipeline would use it."""

from provenance import Registry
from tests.helpers import write


def test_open_add_show_log_verify_as_in_the_spec(tmp_path, monkeypatch):
    Registry.init(tmp_path).close()
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "data" / "train.parquet", b"PAR1 not really")
    with Registry.open(".prov") as reg:
        ds = reg.add("data/train.parquet", kind="dataset")
        model = reg.add(
            write(tmp_path / "model.onnx", b"onnx"), kind="model", links=[("derived_from", ds.id)]
        )
        assert reg.show(ds.id)["record"]["name"] == "data/train.parquet"
        assert [r["id"] for r in reg.log(kind="model")] == [model.id]
        assert reg.verify(full=True, content=True)["ok"]
    with Registry.open(tmp_path) as reg:  # the directory holding .prov works too
        assert reg.get(model.id[7:19]).record["links"] == [{"rel": "derived_from", "id": ds.id}]
