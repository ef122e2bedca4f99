"""RDS exports with the database's types restored, read back by pyarrow and DuckDB: every restored
value equals the exported string parsed independently (Python's decimal and datetime), a numeric
column holding NaN stays text, and MySQL char bytes arrive as text."""

import json
import os
import subprocess
from datetime import date, datetime, time, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("DBSNAPLAKE_BIN", str(ROOT / "target/debug/dbsnaplake"))
OFFSETS = ["+00", "+05:30", "-08", "+01:00"]


def mapping(column, original, precision=0):
    return {"columnName": column, "originalType": original, "expectedExportedType": "binary (UTF8)",
            "originalCharMaxLength": 0, "originalNumPrecision": precision, "originalDateTimePrecision": 0}


def export(tmp: Path, task: str, target: str, folder: str, mappings, tables):
    root = tmp / "export" / task
    (root / folder).mkdir(parents=True)
    (root / f"export_info_{task}.json").write_text(json.dumps(
        {"exportTaskIdentifier": task, "sourceArn": f"arn:aws:rds:us-east-1:123456789012:snapshot:{task}",
         "snapshotTime": "2024-06-01T03:05:00Z", "status": "COMPLETE", "percentProgress": 100}))
    (root / f"export_tables_info_{task}_from_1_to_1.json").write_text(json.dumps({"perTableStatus": [
        {"schemaMetadata": {"originalTypeMappings": mappings}, "status": "COMPLETE", "target": target}]}))
    for i, t in enumerate(tables):
        pq.write_table(t, root / folder / f"part-{i:05}-3b9c-c000.gz.parquet", compression="gzip")
    return root


def run(tmp: Path, root: Path, tables=None):
    job = {"source": {"rds_export": str(root)}, "staging": str(tmp / "st"), "datalake": str(tmp / "lake"),
           "tables": tables or {}}
    (tmp / "job.json").write_text(json.dumps(job))
    out = subprocess.run([BIN, "run", "--job", str(tmp / "job.json")], capture_output=True, text=True)
    assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return tmp / "lake"


def pg_rows(ids):
    return pa.table({
        "order_id": pa.array(ids, pa.int64()),
        "amount": [None if i % 9 == 4 else f"{i * 37 % 100000}.{i % 100:02}" for i in ids],
        "ratio": ["NaN" if i % 40 == 0 else f"0.{i % 10000:04}" for i in ids],
        "day": [None if i % 11 == 3 else f"2024-{1 + i % 12:02}-{1 + i % 28:02}" for i in ids],
        "at_time": [f"{i % 24:02}:{i % 60:02}:{i * 7 % 60:02}.{i % 1000:03}" for i in ids],
        "local_ts": [f"2023-06-{1 + i % 30:02} {i % 24:02}:15:00.5" for i in ids],
        "placed_at": [None if i % 13 == 5 else f"2024-03-31 {20 + i % 4:02}:30:00{OFFSETS[i % 4]}" for i in ids],
    })


def test_postgres_types_read_back_in_pyarrow_and_duckdb(tmp_path):
    mappings = [mapping("order_id", "bigint", 19), mapping("amount", "numeric", 12),
                mapping("ratio", "numeric", 10), mapping("day", "date"),
                mapping("at_time", "time without time zone"),
                mapping("local_ts", "timestamp without time zone"),
                mapping("placed_at", "timestamp with time zone")]
    source = [pg_rows(range(0, 600)), pg_rows(range(600, 1000))]
    root = export(tmp_path, "appdb-export-1", "appdb.public.orders", "appdb/public.orders/1", mappings, source)
    lake = run(tmp_path, root, {"*": {"partition_by": [{"name": "month", "from": "placed_at", "fn": "month"}]}})
    exported = pa.concat_tables(source).to_pylist()
    table_dir = lake / "appdb/public/orders"
    got = ds.dataset(table_dir, format="parquet", partitioning="hive").to_table()
    schema = got.schema
    assert schema.field("amount").type == pa.decimal128(12, 2)
    assert schema.field("day").type == pa.date32()
    assert schema.field("at_time").type == pa.time64("us")
    assert schema.field("local_ts").type == pa.timestamp("us")
    assert schema.field("placed_at").type.tz in ("+00:00", "UTC")
    assert schema.field("ratio").type == pa.string(), "a numeric with NaN stays text"
    rows = {r["order_id"]: r for r in got.to_pylist()}
    assert len(rows) == len(exported) == 1000
    for want in exported:
        r = rows[want["order_id"]]
        assert r["amount"] == (None if want["amount"] is None else Decimal(want["amount"]))
        assert r["day"] == (None if want["day"] is None else date.fromisoformat(want["day"]))
        assert r["at_time"] == time.fromisoformat(want["at_time"])
        assert r["local_ts"] == datetime.fromisoformat(want["local_ts"])
        placed = None if want["placed_at"] is None else datetime.fromisoformat(want["placed_at"])
        assert r["placed_at"] == placed, want
        assert r["ratio"] == want["ratio"]
        if placed is not None:
            assert r["month"] == placed.astimezone(timezone.utc).month, "partitioned by the UTC month"

    con = duckdb.connect()
    glob = f"{table_dir}/**/*.parquet"
    total, n, first, kinds = con.execute(
        f"select sum(amount), count(*), epoch_us(min(placed_at)), typeof(any_value(amount)) "
        f"from read_parquet('{glob}', hive_partitioning = true)").fetchone()
    assert n == 1000
    assert Decimal(total) == sum(Decimal(w["amount"]) for w in exported if w["amount"] is not None)
    assert kinds == "DECIMAL(12,2)"
    earliest = min(datetime.fromisoformat(w["placed_at"]) for w in exported if w["placed_at"])
    assert first == round(earliest.timestamp() * 1_000_000)
    days = con.execute(f"select count(*) from read_parquet('{glob}') where day = DATE '2024-02-02'").fetchone()[0]
    assert days == sum(1 for w in exported if w["day"] == "2024-02-02")

    manifest = json.loads((tmp_path / "st/manifests/manifest-summary.json").read_text())
    types = manifest["rds_export"]["types"]["appdb/public/orders"]
    assert "NaN" in types["ratio"]["why"] and types["amount"]["lake"] == "Decimal128(12, 2)"


def test_mysql_char_bytes_read_back_as_text(tmp_path):
    names = ["Zoë", "日本語", "Ørsted", None]
    ids = list(range(200))
    table = pa.table({
        "id": pa.array(ids, pa.int32()),
        "name": pa.array([None if names[i % 4] is None else names[i % 4].encode() for i in ids], pa.binary()),
        "photo": pa.array([bytes([0xFF, i % 256]) for i in ids], pa.binary()),
        "opens": [f"{i % 24:02}:30:00" for i in ids],
        "since": [f"2020-01-{1 + i % 31:02}" for i in ids],
    })
    mappings = [mapping("id", "int", 10), mapping("name", "varchar"), mapping("photo", "blob"),
                mapping("opens", "time"), mapping("since", "date")]
    root = export(tmp_path, "shop-export-1", "shop.customers", "shop/shop.customers/1", mappings, [table])
    lake = run(tmp_path, root)
    got = pq.read_table(lake / "shop/shop/customers").sort_by("id")
    assert got.schema.field("name").type == pa.string()
    assert got.schema.field("photo").type == pa.binary()
    assert got.column("name").to_pylist() == [names[i % 4] for i in ids]
    assert got.column("opens").to_pylist() == [time.fromisoformat(f"{i % 24:02}:30:00") for i in ids]
    assert got.column("since").to_pylist() == [date.fromisoformat(f"2020-01-{1 + i % 31:02}") for i in ids]
    glob = f"{lake}/shop/shop/customers/**/*.parquet"
    n = duckdb.connect().execute(f"select count(*) from read_parquet('{glob}') where name = '日本語'").fetchone()[0]
    assert n == 50
