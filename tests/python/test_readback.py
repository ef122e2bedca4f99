"""Independent readers: a lake made by the dbsnaplake CLI reads back in pyarrow and DuckDB
with hive partitioning, with the same rows and values as the source snapshot."""

import json
import os
import subprocess
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

BIN = os.environ.get("DBSNAPLAKE_BIN", str(Path(__file__).resolve().parents[2] / "target/debug/dbsnaplake"))


def cli(*args):
    out = subprocess.run([BIN, *args], capture_output=True, text=True)
    assert out.returncode == 0, f"{args}: exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out.stdout


def make_lake(tmp: Path, tables, rows=20_000, extra=None):
    args = ["generate", "--out", str(tmp / "snap"), "--rows", str(rows), "--files", "4"]
    for t in tables:
        args += ["--table", t]
    cli(*args)
    job = {
        "source": {"manifest": str(tmp / "snap/manifests/manifest-summary.json")},
        "staging": str(tmp / "staging"),
        "datalake": str(tmp / "lake"),
        "group_size": 1_000_000,
        "file_size": 1_000_000,
    }
    job.update(extra or {})
    (tmp / "job.json").write_text(json.dumps(job))
    cli("run", "--job", str(tmp / "job.json"))
    assert (tmp / "lake/_SUCCESS").exists()
    return tmp / "lake"


def source(tmp: Path, table=""):
    return pq.read_table(tmp / "snap/data" / table).sort_by("order_id")


def lake_files(folder: Path):
    return sorted(str(p) for p in folder.rglob("*.parquet"))


YEAR_MONTH = {
    "tables": {"*": {
        "partition_by": [{"name": "year", "from": "order_time", "fn": "year"},
                         {"name": "month", "from": "order_time", "fn": "month"}],
        "sort_by": [{"column": "order_time", "descending": True}]}}
}


def test_year_month_lake_reads_back_in_pyarrow_and_duckdb(tmp_path):
    lake = make_lake(tmp_path, [], extra=YEAR_MONTH)
    src = source(tmp_path)
    partitioning = ds.partitioning(pa.schema([("year", pa.string()), ("month", pa.string())]), flavor="hive")
    got = ds.dataset(lake_files(lake), format="parquet", partitioning=partitioning,
                     partition_base_dir=str(lake)).to_table().sort_by("order_id")
    assert got.num_rows == src.num_rows
    assert pc.count_distinct(got["order_id"]).as_py() == src.num_rows
    for name in src.column_names:
        assert got[name].type == src[name].type, name
        assert got[name].equals(src[name]), name
    years = pc.strftime(got["order_time"], format="%Y")
    months = pc.strftime(got["order_time"], format="%m")
    assert pc.all(pc.equal(years, got["year"])).as_py()
    assert pc.all(pc.equal(months, got["month"])).as_py()
    for f in lake_files(lake):
        t = pq.read_table(f)["order_time"].to_pylist()
        assert t == sorted(t, reverse=True), f

    con = duckdb.connect()
    q = (
        "SELECT count(*), count(DISTINCT order_id), sum(customer_id), "
        "sum(CASE WHEN strftime(order_time, '%Y') = year AND strftime(order_time, '%m') = month THEN 1 ELSE 0 END) "
        f"FROM read_parquet('{lake}/**/*.parquet', hive_partitioning = true, "
        "hive_types = {'year': VARCHAR, 'month': VARCHAR})"
    )
    n, distinct, customers, placed = con.execute(q).fetchone()
    assert (n, distinct, placed) == (src.num_rows, src.num_rows, src.num_rows)
    assert customers == pc.sum(src["customer_id"]).as_py()


def test_hostile_partition_values_round_trip(tmp_path):
    by_region = {"tables": {"*": {"partition_by": [{"name": "region", "from": "region", "fn": "value"}]}}}
    lake = make_lake(tmp_path, [], rows=8_000, extra=by_region)
    src = source(tmp_path)
    want = dict(zip(src["order_id"].to_pylist(), src["region"].to_pylist()))
    assert {"eu/west", "a=b", "100%", "..", "東京", "São Paulo", None} <= set(want.values())
    partitioning = ds.partitioning(pa.schema([("region", pa.string())]), flavor="hive")
    got = ds.dataset(lake_files(lake), format="parquet", partitioning=partitioning,
                     partition_base_dir=str(lake)).to_table()
    regions = [None if r == "__HIVE_DEFAULT_PARTITION__" else r for r in got["region"].to_pylist()]
    assert dict(zip(got["order_id"].to_pylist(), regions)) == want

    rows = duckdb.connect().execute(
        f"SELECT order_id, region FROM read_parquet('{lake}/**/*.parquet', hive_partitioning = true, "
        "hive_types = {'region': VARCHAR})"
    ).fetchall()
    assert len(rows) == len(want)
    decoded = {oid: (None if r in (None, "__HIVE_DEFAULT_PARTITION__") else r) for oid, r in rows}
    assert decoded == want


def test_each_table_has_its_own_folder(tmp_path):
    lake = make_lake(tmp_path, ["mydb/public/orders", "mydb/public/items"], rows=5_000, extra=YEAR_MONTH)
    for t in ["mydb/public/orders", "mydb/public/items"]:
        got = ds.dataset(lake_files(lake / t), format="parquet").to_table()
        assert got.num_rows == 5_000
        assert got.sort_by("order_id")["amount"].equals(source(tmp_path, t)["amount"])
