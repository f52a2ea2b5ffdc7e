"""Schema and column profile of tabular files (Parquet, CSV, Arrow IPC/Feather), with pyarrow.

A dataset or model record of such a file carries ``attributes.schema`` (the Arrow schema: one
``{"name", "type", "nullable"}`` per column) and ``attributes.profile`` (``rows`` and, per
column, ``nulls``, ``min``, ``max`` and ``distinct``), so ``prov diff`` shows schema and
distribution drift between versions without the bytes. ``distinct`` is counted exactly by Arrow's
hash kernel, one column at a time (Parquet is read column by column, Arrow files are memory
mapped); CSV has no columnar layout, so a CSV larger than :data:`CSV_MAX_BYTES` gets its schema
only. Values in ``min``/``max`` are JSON: times in ISO 8601, integers beyond 2**53 and decimals
as strings, NaN ignored (as Arrow's min/max do).

A string column's profile keeps no value of it: a record is permanent (an erasure removes the
bytes, never the record), and the smallest and largest value of a text column is often a
person's name or number. It gets ``min_length`` and ``max_length`` (in characters) instead.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = ["CSV_MAX_BYTES", "FORMATS", "describe", "is_tabular"]

FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".arrow": "ipc",
    ".feather": "ipc",
    ".ipc": "ipc",
}
CSV_MAX_BYTES = 2 << 30


def is_tabular(path: Path) -> bool:
    return path.suffix.lower() in FORMATS


def _json_value(v: Any) -> Any:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v if abs(v) <= 2**53 else str(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    if isinstance(v, Decimal):
        return str(v)
    return None  # bytes and nested values: no meaningful min/max in a record


def _column(name: str, col: Any) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    out: dict[str, Any] = {"name": name, "nulls": int(col.null_count)}
    t = col.type
    if pa.types.is_nested(t) or pa.types.is_dictionary(t):
        return out
    try:
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            lengths = pc.min_max(pc.utf8_length(col)).as_py()
            for k in ("min", "max"):
                if lengths[k] is not None:
                    out[f"{k}_length"] = int(lengths[k])
        elif not (pa.types.is_binary(t) or pa.types.is_large_binary(t)):
            mm = pc.min_max(col).as_py()
            for k in ("min", "max"):
                v = _json_value(mm[k])
                if v is not None:
                    out[k] = v
        out["distinct"] = int(pc.count_distinct(col).as_py())
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
        pass
    return out


def _schema(schema: Any) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": str(f.type), "nullable": bool(f.nullable)} for f in schema]


def describe(path: str | Path, suffix: str | None = None) -> dict[str, Any] | None:
    """``{"schema": [...], "profile": {"rows", "columns": [...]}}``, or None when the file is not
    tabular or pyarrow cannot read it (the record is then registered without them). ``suffix``
    gives the format of a file whose own name has none (a DVC cache object)."""
    p = Path(path)
    fmt = FORMATS.get((suffix if suffix is not None else p.suffix).lower())
    if fmt is None:
        return None
    import pyarrow as pa

    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(p)
            schema = pf.schema_arrow
            columns = [
                _column(f.name, pf.read(columns=[f.name]).column(0))
                if schema.get_field_index(f.name) >= 0
                else {"name": f.name}
                for f in schema
            ]
            return {
                "schema": _schema(schema),
                "profile": {"rows": pf.metadata.num_rows, "columns": columns},
            }
        if fmt == "ipc":
            source = pa.memory_map(str(p))
            try:
                table = pa.ipc.open_file(source).read_all()
            except pa.ArrowInvalid:
                source.seek(0)
                table = pa.ipc.open_stream(source).read_all()
        else:
            import pyarrow.csv as pcsv

            if p.stat().st_size > CSV_MAX_BYTES:
                reader = pcsv.open_csv(p)
                return {"schema": _schema(reader.schema)}
            table = pcsv.read_csv(p)
    except (pa.ArrowException, OSError, ValueError):
        return None
    return {
        "schema": _schema(table.schema),
        "profile": {
            "rows": table.num_rows,
            "columns": [_column(n, table.column(i)) for i, n in enumerate(table.column_names)],
        },
    }
