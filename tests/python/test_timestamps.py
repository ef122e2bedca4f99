"""Timestamps as real sources hold them (pandas' nanoseconds, INT96 from older Spark/Hive/Impala,
seconds from CSV inference, date64, a Spark-like file without an Arrow schema) become lake columns
every engine reads: microseconds or milliseconds with their logical type and UTC meaning, dates as
dates. Checked in the lake's Parquet schema, and by value in pyarrow and DuckDB."""

import json
import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("DBSNAPLAKE_BIN", str(ROOT / "target/debug/dbsnaplake"))
N = 300
BASE = datetime(2024, 1, 13, 12, 30, tzinfo=timezone.utc)


def instants():
    return [datetime.fromtimestamp(BASE.timestamp() + i * 3_601.25, tz=timezone.utc) for i in range(N)]


def run(tmp: Path, files: dict, extra=None, ok=True):
    src = tmp / "src"
    src.mkdir()
    for name, (table, kw) in files.items():
        pq.write_table(table, src / name, **kw)
    job = {"source": {"files": str(src), "table": "db/s/t"}, "staging": str(tmp / "st"),
           "datalake": str(tmp / "lake"), **(extra or {})}
    (tmp / "job.json").write_text(json.dumps(job))
    out = subprocess.run([BIN, "run", "--job", str(tmp / "job.json")], capture_output=True, text=True)
    if ok:
        assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out


def lake_file(tmp: Path):
    return next((tmp / "lake/db/s/t").rglob("*.parquet"))


def logical(path, column):
    schema = pq.ParquetFile(path).schema
    return str(schema.column(schema.names.index(column)).logical_type)


def test_every_timestamp_kind_lands_as_micros_or_millis_with_its_meaning(tmp_path):
    at = instants()
    ids = pa.array(range(N), pa.int64())
    ns = pa.array([int(t.timestamp() * 1_000_000) * 1000 for t in at], pa.timestamp("ns", tz="UTC"))
    naive_ns = pa.array([int(t.timestamp() * 1_000_000) * 1000 for t in at], pa.timestamp("ns"))
    seconds = pa.array([int(t.timestamp()) for t in at], pa.timestamp("s"))
    days = pa.array([int(t.timestamp() // 86400) * 86_400_000 for t in at], pa.date64())
    table = pa.table({"id": ids, "at_ns": ns, "local_ns": naive_ns, "at_s": seconds, "day": days})
    # INT96 holds instants: the file has no local-time columns (they are null there).
    int96 = table.select(["id", "at_ns", "day"])
    files = {
        "pandas.parquet": (table.slice(0, 100), {}),
        "spark_int96.parquet": (int96.slice(100, 100), {"use_deprecated_int96_timestamps": True}),
        "no_arrow_schema.parquet": (table.slice(200, 100), {"store_schema": False}),
    }
    run(tmp_path, files)
    path = lake_file(tmp_path)
    assert "isAdjustedToUTC=true, timeUnit=microseconds" in logical(path, "at_ns"), logical(path, "at_ns")
    assert "timeUnit=microseconds" in logical(path, "local_ns")
    assert "timeUnit=milliseconds" in logical(path, "at_s"), logical(path, "at_s")
    assert logical(path, "day") == "Date"
    got = pq.read_table(tmp_path / "lake/db/s/t").sort_by("id")
    assert got.schema.field("at_ns").type.unit == "us" and got.schema.field("at_ns").type.tz in ("UTC", "+00:00")
    assert [t.timestamp() for t in got.column("at_ns").to_pylist()] == [t.timestamp() for t in at]
    assert got.column("day").to_pylist() == [t.date() for t in at]
    seconds_back = [None if t is None else int(t.replace(tzinfo=timezone.utc).timestamp())
                    for t in got.column("at_s").to_pylist()]
    assert seconds_back == [None if 100 <= i < 200 else int(t.timestamp()) for i, t in enumerate(at)]
    glob = f"{tmp_path}/lake/db/s/t/**/*.parquet"
    n, epoch_sum = duckdb.connect().execute(
        f"select count(*), sum(epoch_us(at_ns)) from read_parquet('{glob}')").fetchone()
    assert n == N and epoch_sum == sum(int(t.timestamp() * 1_000_000) for t in at)


def test_seconds_and_date64_make_a_delta_table_and_lost_nanoseconds_are_refused(tmp_path):
    at = instants()
    table = pa.table({"id": pa.array(range(N), pa.int64()),
                      "at_s": pa.array([int(t.timestamp()) for t in at], pa.timestamp("s")),
                      "day": pa.array([int(t.timestamp() // 86400) * 86_400_000 for t in at], pa.date64())})
    run(tmp_path, {"a.parquet": (table, {})}, {"output": {"format": "delta"}})
    from deltalake import DeltaTable
    dt = DeltaTable(str(tmp_path / "lake/db/s/t"))
    assert dt.to_pyarrow_table().num_rows == N

    bad = tmp_path / "bad"
    bad.mkdir()
    ns = pa.table({"id": pa.array([1, 2], pa.int64()),
                   "at": pa.array([1_705_149_000_000_000_000, 1_705_149_000_000_000_001], pa.timestamp("ns"))})
    out = run(bad, {"a.parquet": (ns, {})}, ok=False)
    assert out.returncode != 0
    assert "1705149000000000001" in out.stderr and '"at"' in out.stderr, out.stderr
    assert "a.parquet" in out.stderr and "output.nanoseconds" in out.stderr, "refused by the planner"
    assert not (bad / "st/manifests/snapshot-file-groups").exists(), "before any group is planned"

    cut = tmp_path / "cut"
    cut.mkdir()
    run(cut, {"a.parquet": (ns, {})}, {"output": {"nanoseconds": "truncate"}})
    got = pq.read_table(cut / "lake/db/s/t").sort_by("id")
    assert got.schema.field("at").type == pa.timestamp("us")
    assert got.column("at").cast(pa.int64()).to_pylist() == [1_705_149_000_000_000, 1_705_149_000_000_000]
