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


def test_parquet_output_options_reach_the_files(tmp_path):
    options = {"output": {"format": "parquet", "compression": "zstd", "compression_level": 9,
                          "row_group_rows": 1_000, "dictionary": False, "statistics": True}}
    lake = make_lake(tmp_path, [], rows=6_000, extra=options)
    files = lake_files(lake)
    assert files
    for f in files:
        meta = pq.ParquetFile(f).metadata
        assert meta.num_row_groups == -(-meta.num_rows // 1_000), f
        for rg in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                col = meta.row_group(rg).column(c)
                assert col.compression == "ZSTD", (f, col.path_in_schema)
                assert "PLAIN_DICTIONARY" not in col.encodings and "RLE_DICTIONARY" not in col.encodings
        assert meta.row_group(0).column(1).statistics.has_min_max  # customer_id
    got = ds.dataset(files, format="parquet").to_table().sort_by("order_id")
    src = source(tmp_path)
    for name in src.column_names:
        assert got[name].equals(src[name]), name
    n = duckdb.connect().execute(f"SELECT count(DISTINCT order_id) FROM read_parquet('{lake}/**/*.parquet')").fetchone()[0]
    assert n == 6_000


COLUMNS = "{'order_id': 'VARCHAR', 'customer_id': 'BIGINT', 'order_time': 'TIMESTAMP', " \
          "'amount': 'DECIMAL(12,2)', 'discount': 'DOUBLE', 'status': 'VARCHAR', 'note': 'VARCHAR', " \
          "'ship_date': 'DATE', 'region': 'VARCHAR'}"
COMPARED = ["order_id", "customer_id", "order_time", "amount", "discount", "status", "note", "ship_date", "region"]


def text_lake(tmp: Path, fmt: str, gzip: bool):
    spec = {"tables": {"*": {**YEAR_MONTH["tables"]["*"], "transform": [{"drop": ["tags"]}]}},
            "output": {"format": fmt, "gzip": gzip}}
    lake = make_lake(tmp, [], rows=5_000, extra=spec)
    ext = {"ndjson": ".ndjson", "csv": ".csv"}[fmt] + (".gz" if gzip else "")
    files = sorted(str(p) for p in lake.rglob("*") if p.is_file() and not p.name.startswith("_"))
    assert files and all(f.endswith(ext) for f in files), files[:3]
    return lake, ext


def assert_rows_match(tmp: Path, rows):
    src = source(tmp).select(COMPARED).to_pylist()
    assert len(rows) == len(src)
    got = [dict(zip(COMPARED + ["year", "month"], r)) for r in rows]
    for want, have in zip(src, got):
        assert {k: have[k] for k in COMPARED} == want, want["order_id"]
        assert (have["year"], have["month"]) == (f"{want['order_time']:%Y}", f"{want['order_time']:%m}")


def test_ndjson_output_reads_back_in_duckdb(tmp_path):
    lake, ext = text_lake(tmp_path, "ndjson", gzip=False)
    rows = duckdb.connect().execute(
        f"SELECT {', '.join(COMPARED)}, year, month FROM read_json('{lake}/**/*{ext}', "
        f"format = 'newline_delimited', columns = {COLUMNS}, hive_partitioning = true, "
        "hive_types = {'year': VARCHAR, 'month': VARCHAR}) ORDER BY order_id"
    ).fetchall()
    assert_rows_match(tmp_path, rows)


def test_gzip_csv_output_reads_back_in_duckdb(tmp_path):
    lake, ext = text_lake(tmp_path, "csv", gzip=True)
    rows = duckdb.connect().execute(
        f"SELECT {', '.join(COMPARED)}, year, month FROM read_csv('{lake}/**/*{ext}', header = true, "
        f"columns = {COLUMNS}, hive_partitioning = true, "
        "hive_types = {'year': VARCHAR, 'month': VARCHAR}) ORDER BY order_id"
    ).fetchall()
    assert_rows_match(tmp_path, rows)


def test_csv_output_refuses_nested_columns(tmp_path):
    cli("generate", "--out", str(tmp_path / "snap"), "--rows", "1000", "--files", "1")
    job = {"source": {"manifest": str(tmp_path / "snap/manifests/manifest-summary.json")},
           "staging": str(tmp_path / "staging"), "datalake": str(tmp_path / "lake"),
           "output": {"format": "csv"}}
    (tmp_path / "job.json").write_text(json.dumps(job))
    out = subprocess.run([BIN, "run", "--job", str(tmp_path / "job.json")], capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        'error: table *: CSV output cannot hold column "tags" of type List(Utf8); drop it or write NDJSON or Parquet')
    assert not (tmp_path / "lake/_SUCCESS").exists()


def test_delta_output_reads_back_in_deltalake(tmp_path):
    from deltalake import DeltaTable

    spec = {"tables": {"*": {
        "partition_by": [{"name": "year", "from": "order_time", "fn": "year"},
                         {"name": "region", "from": "region", "fn": "value"}],
        "sort_by": [{"column": "order_time", "descending": True}]}},
        "output": {"format": "delta", "compression": "zstd"}}
    lake = make_lake(tmp_path, ["mydb/public/orders", "mydb/public/items"], rows=6_000, extra=spec)
    for t in ["mydb/public/orders", "mydb/public/items"]:
        dt = DeltaTable(str(lake / t))
        assert dt.version() == 0
        assert dt.metadata().partition_columns == ["year", "region"]
        assert len(dt.file_uris()) == len(lake_files(lake / t))
        got = dt.to_pyarrow_table().to_pylist()
        got.sort(key=lambda r: r["order_id"])
        src = source(tmp_path, t).to_pylist()
        assert len(got) == len(src) == 6_000
        for want, have in zip(src, got):
            region = want.pop("region")
            assert have.pop("region") == (region or None), want["order_id"]
            assert have.pop("year") == f"{want['order_time']:%Y}"
            assert have == want, want["order_id"]
    # The log is written once: a rerun keeps version 0 as it was.
    log = lake / "mydb/public/orders/_delta_log/00000000000000000000.json"
    before = log.read_bytes()
    cli("run", "--job", str(tmp_path / "job.json"))
    assert log.read_bytes() == before
    assert not (lake / "mydb/public/orders/_delta_log/00000000000000000001.json").exists()


def test_deltalake_deletes_and_updates_rows_under_hostile_partition_values(tmp_path):
    from deltalake import DeltaTable

    spec = {"tables": {"*": {"partition_by": [{"name": "region", "from": "region", "fn": "value"}]}},
            "output": {"format": "delta"}}
    lake = make_lake(tmp_path, [], rows=6_000, extra=spec)
    src = source(tmp_path).to_pylist()
    log = (lake / "_delta_log/00000000000000000000.json").read_text().splitlines()
    adds = [json.loads(line)["add"] for line in log if '"add"' in line]
    stats = json.loads(adds[0]["stats"])
    assert stats["numRecords"] > 0 and "order_id" in stats["minValues"] and "order_id" in stats["nullCount"]
    assert all(s["minValues"]["order_id"] <= s["maxValues"]["order_id"]
               for s in (json.loads(a["stats"]) for a in adds))
    dt = DeltaTable(str(lake))
    for region in ["a=b", "100%", "東京", "eu/west"]:
        n = sum(1 for r in src if r["region"] == region)
        assert n > 0, region
        before = dt.to_pyarrow_table().num_rows
        dt.delete(f"region = '{region}'")
        dt = DeltaTable(str(lake))
        after = dt.to_pyarrow_table()
        assert after.num_rows == before - n, region
        assert region not in after["region"].to_pylist()
    dt.update(updates={"customer_id": "0"}, predicate="region = 'São Paulo'")
    dt = DeltaTable(str(lake))
    got = dt.to_pyarrow_table().to_pylist()
    kept = [r for r in src if r["region"] not in ("a=b", "100%", "東京", "eu/west")]
    assert len(got) == len(kept), "update duplicates no row"
    assert all(r["customer_id"] == 0 for r in got if r["region"] == "São Paulo")
    assert sorted(r["order_id"] for r in got) == sorted(r["order_id"] for r in kept)


def test_deltalake_changes_rows_of_partitions_named_with_uri_sub_delimiters(tmp_path):
    """`+ $ & , ; @` stay as they are in folder names; the log must name the same paths delta-rs
    would, or its removes match no add (rows reported deleted stay, updates duplicate rows)."""
    from deltalake import DeltaTable

    regions = ["a+b", "x$y&z", "k,v;w@q", "plain"]
    (tmp_path / "src").mkdir()
    pq.write_table(pa.table({"id": pa.array(range(400), pa.int64()),
                             "region": [regions[i % 4] for i in range(400)],
                             "n": pa.array([i % 7 for i in range(400)], pa.int64())}),
                   tmp_path / "src/part.parquet")
    job = {"source": {"files": str(tmp_path / "src")}, "staging": str(tmp_path / "st"),
           "datalake": str(tmp_path / "lake"), "output": {"format": "delta"},
           "tables": {"*": {"partition_by": [{"name": "region", "from": "region", "fn": "value"}]}}}
    (tmp_path / "job.json").write_text(json.dumps(job))
    cli("run", "--job", str(tmp_path / "job.json"))
    lake = str(tmp_path / "lake")
    assert (tmp_path / "lake/region=a+b").is_dir()
    DeltaTable(lake).delete("region = 'a+b'")
    DeltaTable(lake).update(updates={"n": "100"}, predicate="region = 'k,v;w@q'")
    got = DeltaTable(lake).to_pyarrow_table().to_pylist()
    assert sorted(r["id"] for r in got) == [i for i in range(400) if i % 4 != 0]
    assert all(r["n"] == 100 for r in got if r["region"] == "k,v;w@q")
    assert sum(1 for r in got if r["region"] == "x$y&z") == 100
