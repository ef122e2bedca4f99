"""Iceberg output, read back with pyiceberg: through its SqlCatalog on the SQLite file the run
committed to, through StaticTable on a metadata file, and (Glue flavour) from moto's Glue and S3.
Each database snapshot is one version of the table: the current scan equals the newest snapshot's
rows, the first version the first snapshot's; reruns commit nothing."""

import json
import os
import sqlite3
import subprocess
from decimal import Decimal
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import EqualTo, GreaterThanOrEqual
from pyiceberg.table import StaticTable
from pyiceberg.table.sorting import NullOrder, SortDirection

from motoserver import CLIENT, moto_server

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("DBSNAPLAKE_BIN", str(ROOT / "target/debug/dbsnaplake"))
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
PARTITIONS = [{"name": "region", "from": "region", "fn": "value"},
              {"name": "year", "from": "order_time", "fn": "year"}]
SORT = [{"column": "order_time", "descending": True}]


def cli(*args, ok=True, env=None):
    out = subprocess.run([BIN, *args], capture_output=True, text=True,
                         env={"PATH": os.environ.get("PATH", ""), **CREDENTIALS, **(env or {})})
    if ok:
        assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out


def snapshot(tmp: Path, name: str, rows: int, seed: int):
    cli("generate", "--out", str(tmp / name), "--rows", str(rows), "--files", "3", "--seed", str(seed),
        "--table", "mydb/public/orders")
    return str(tmp / name / "manifests/manifest-summary.json")


def source_rows(tmp: Path, name: str) -> pa.Table:
    return pa.concat_tables(pq.read_table(p) for p in sorted((tmp / name / "data").rglob("*.parquet")))


def sql_job(tmp: Path, manifest: str, time: str, catalog_db="catalog.db"):
    folder = f"snapshot={time}"
    j = {"source": {"manifest": manifest}, "staging": str(tmp / "staging" / folder),
         "datalake": str(tmp / "lake" / folder),
         "tables": {"*": {"partition_by": PARTITIONS, "sort_by": SORT}},
         "output": {"format": "iceberg"},
         "catalog": {"type": "sql", "uri": f"sqlite:///{tmp / catalog_db}", "warehouse": str(tmp / "warehouse"),
                     "database": "shop", "tables": {"*": "orders"}}}
    path = tmp / f"job-{time}.json"
    path.write_text(json.dumps(j))
    return str(path)


def facts(t: pa.Table):
    """What a version must hold of its snapshot: rows, a decimal sum, NULLs per column, the ids."""
    return {"rows": t.num_rows, "amount": pc.sum(t["amount"]).as_py(),
            "nulls": {c: t[c].null_count for c in t.column_names},
            "ids": sorted(t["order_id"].to_pylist())}


@pytest.fixture(scope="module")
def two_snapshots(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("iceberg")
    first = snapshot(tmp, "snap1", 5_000, 1)
    second = snapshot(tmp, "snap2", 4_000, 2)
    cli("run", "--job", sql_job(tmp, first, "2021-01-01T08:30:00Z"))
    catalog = SqlCatalog("dbsnaplake", uri=f"sqlite:///{tmp / 'catalog.db'}", warehouse=str(tmp / "warehouse"))
    after_first = catalog.load_table("shop.orders").metadata_location
    cli("run", "--job", sql_job(tmp, second, "2021-01-08T08:30:00Z"))
    return tmp, catalog, after_first


def test_each_snapshot_is_a_version_and_the_current_one_is_the_newest(two_snapshots):
    tmp, catalog, _ = two_snapshots
    t = catalog.load_table("shop.orders")
    snaps = t.metadata.snapshots
    assert len(snaps) == 2
    assert facts(t.scan().to_arrow()) == facts(source_rows(tmp, "snap2"))
    assert facts(t.scan(snapshot_id=snaps[0].snapshot_id).to_arrow()) == facts(source_rows(tmp, "snap1"))
    assert pc.sum(t.scan().to_arrow()["amount"]).as_py() == pc.sum(source_rows(tmp, "snap2")["amount"]).as_py()
    assert isinstance(pc.sum(t.scan().to_arrow()["amount"]).as_py(), Decimal)
    # The same table read from its metadata file alone.
    static = StaticTable.from_metadata(t.metadata_location)
    assert static.scan().to_arrow().num_rows == 4_000
    # Summaries and tags name the snapshots.
    first, second = (s.summary for s in snaps)
    assert first.operation.value == "append" and second.operation.value == "overwrite"
    assert second["dbsnaplake.validated-records"] == "4000"
    assert second["dbsnaplake.snapshot-time"] == "2021-01-08T08:30:00Z"
    assert second["deleted-records"] == "5000" and second["total-records"] == "4000"
    tags = {name: ref.snapshot_id for name, ref in t.metadata.refs.items() if ref.snapshot_ref_type.value == "tag"}
    assert tags == {"snapshot-2021-01-01T08:30:00Z": snaps[0].snapshot_id,
                    "snapshot-2021-01-08T08:30:00Z": snaps[1].snapshot_id}


def test_partition_spec_sort_order_and_pruning(two_snapshots):
    _, catalog, _ = two_snapshots
    t = catalog.load_table("shop.orders")
    spec = [(f.name, str(f.transform), t.schema().find_column_name(f.source_id)) for f in t.spec().fields]
    assert spec == [("region", "identity", "region"), ("order_time_year", "year", "order_time")]
    (order,) = t.sort_order().fields
    assert t.schema().find_column_name(order.source_id) == "order_time"
    assert order.direction == SortDirection.DESC and order.null_order == NullOrder.NULLS_LAST
    every = list(t.scan().plan_files())
    tokyo = list(t.scan(row_filter=EqualTo("region", "東京")).plan_files())
    assert 0 < len(tokyo) < len(every)
    # Hidden partitioning: a filter on the timestamp column itself prunes by year.
    recent = list(t.scan(row_filter=GreaterThanOrEqual("order_time", "2024-01-01T00:00:00")).plan_files())
    assert 0 < len(recent) < len(every)
    rows = t.scan(row_filter=EqualTo("region", "eu/west")).to_arrow()
    assert rows.num_rows > 0 and set(rows["region"].to_pylist()) == {"eu/west"}
    # A NULL region is its own partition, read back as NULL.
    assert t.scan().to_arrow()["region"].null_count > 0
    # Column statistics for pruning: bounds of customer_id in every entry.
    entry = every[0].file
    cid = t.schema().find_field("customer_id").field_id
    assert cid in entry.lower_bounds and cid in entry.upper_bounds and entry.record_count > 0


def test_a_rerun_commits_nothing(two_snapshots):
    tmp, catalog, _ = two_snapshots
    before = catalog.load_table("shop.orders").metadata_location
    cli("run", "--job", str(tmp / "job-2021-01-08T08:30:00Z.json"))
    out = cli("register", "--job", str(tmp / "job-2021-01-08T08:30:00Z.json"))
    assert "committed already: nothing written" in out.stdout, out.stdout
    t = catalog.load_table("shop.orders")
    assert t.metadata_location == before and len(t.metadata.snapshots) == 2


def test_a_lake_that_did_not_validate_commits_nothing(two_snapshots, tmp_path):
    tmp, _, _ = two_snapshots
    job = json.loads(Path(tmp / "job-2021-01-08T08:30:00Z.json").read_text())
    job["catalog"]["uri"] = f"sqlite:///{tmp_path / 'other.db'}"
    job["catalog"]["warehouse"] = str(tmp_path / "wh")
    (tmp_path / "job.json").write_text(json.dumps(job))
    (Path(job["datalake"]) / "_SUCCESS").rename(tmp_path / "success")
    try:
        out = cli("register", "--job", str(tmp_path / "job.json"), ok=False)
    finally:
        (tmp_path / "success").rename(Path(job["datalake"]) / "_SUCCESS")
    assert out.returncode != 0 and "_SUCCESS" in out.stderr, out.stderr
    assert not (tmp_path / "wh").exists()


def test_the_catalog_rows_are_pyiceberg_s_and_point_at_whole_metadata(two_snapshots):
    tmp, _, after_first = two_snapshots
    db = sqlite3.connect(tmp / "catalog.db")
    (row,) = db.execute("SELECT catalog_name, table_namespace, table_name, metadata_location, "
                        "previous_metadata_location FROM iceberg_tables").fetchall()
    assert row[:3] == ("dbsnaplake", "shop", "orders")
    assert row[3].startswith(str(tmp / "warehouse/shop/orders/metadata/00001-")) and row[4] == after_first
    assert json.loads(Path(row[3]).read_text())["format-version"] == 2


def test_a_column_changing_type_is_refused_naming_it(two_snapshots, tmp_path):
    tmp, catalog, _ = two_snapshots
    # A snapshot whose customer_id is text: Iceberg cannot change long to string.
    table = source_rows(tmp, "snap1").slice(0, 100)
    table = table.set_column(table.column_names.index("customer_id"), "customer_id",
                             pc.cast(table["customer_id"], pa.string()))
    (tmp_path / "data").mkdir()
    pq.write_table(table, tmp_path / "data/part-0.parquet")
    job = json.loads(Path(tmp / "job-2021-01-08T08:30:00Z.json").read_text())
    job["source"] = {"files": str(tmp_path / "data"), "format": "parquet"}
    job["staging"], job["datalake"] = str(tmp_path / "st"), str(tmp_path / "lake/snapshot=2021-01-15T08:30:00Z")
    (tmp_path / "job.json").write_text(json.dumps(job))
    out = cli("run", "--job", str(tmp_path / "job.json"), ok=False)
    assert out.returncode != 0 and "customer_id" in out.stderr and "widening" in out.stderr, out.stderr
    assert len(catalog.load_table("shop.orders").metadata.snapshots) == 2


def test_glue_holds_iceberg_tables(tmp_path):
    manifest = snapshot(tmp_path, "snap", 3_000, 3)
    with moto_server() as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint, **CLIENT)
        glue = boto3.client("glue", endpoint_url=endpoint, **CLIENT)
        s3.create_bucket(Bucket="lake")
        env = {"AWS_ENDPOINT_URL_GLUE": endpoint}
        locations = []
        for n in (1, 2):
            j = {"source": {"manifest": manifest}, "staging": str(tmp_path / f"st{n}"),
                 "datalake": f"s3://lake/snap-{n}/", "tables": {"*": {"partition_by": PARTITIONS[1:]}},
                 "s3": {"endpoint_url": endpoint, "path_style": True}, "output": {"format": "iceberg"},
                 "catalog": {"type": "glue", "database": "shop", "warehouse": "s3://lake/warehouse",
                             "tables": {"*": "orders"}}}
            (tmp_path / f"job{n}.json").write_text(json.dumps(j))
            cli("run", "--job", str(tmp_path / f"job{n}.json"), env=env)
            t = glue.get_table(DatabaseName="shop", Name="orders")["Table"]
            assert t["Parameters"]["table_type"] == "ICEBERG"
            locations.append(t["Parameters"]["metadata_location"])
        assert locations[0].startswith("s3://lake/warehouse/shop/orders/metadata/00000-")
        assert locations[1].startswith("s3://lake/warehouse/shop/orders/metadata/00001-")
        assert t["Parameters"]["previous_metadata_location"] == locations[0]
        io = {"s3.endpoint": endpoint, "s3.access-key-id": "testing", "s3.secret-access-key": "testing",
              "s3.region": "us-east-1"}
        table = StaticTable.from_metadata(locations[1], properties=io)
        assert len(table.metadata.snapshots) == 2
        assert facts(table.scan().to_arrow()) == facts(source_rows(tmp_path, "snap"))
        cli("run", "--job", str(tmp_path / "job2.json"), env=env)
        t = glue.get_table(DatabaseName="shop", Name="orders")["Table"]
        assert t["Parameters"]["metadata_location"] == locations[1]


def test_a_commit_that_loses_the_race_is_retried_and_leaves_no_files(two_snapshots, tmp_path):
    tmp, _, _ = two_snapshots
    jobs = []
    for time in ("2021-01-01T08:30:00Z", "2021-01-08T08:30:00Z"):
        job = json.loads(Path(tmp / f"job-{time}.json").read_text())
        job["catalog"]["uri"] = f"sqlite:///{tmp_path / 'raced.db'}"
        job["catalog"]["warehouse"] = str(tmp_path / "wh")
        (tmp_path / f"{time}.json").write_text(json.dumps(job))
        jobs.append(str(tmp_path / f"{time}.json"))
    cli("register", "--job", jobs[0])
    # Another writer moves the pointer first, once: the next UPDATE changes no row.
    db = sqlite3.connect(tmp_path / "raced.db")
    db.executescript("""
        CREATE TABLE one_race (n INTEGER);
        INSERT INTO one_race VALUES (1);
        CREATE TRIGGER race BEFORE UPDATE ON iceberg_tables WHEN EXISTS (SELECT 1 FROM one_race)
        BEGIN DELETE FROM one_race; SELECT RAISE(IGNORE); END;""")
    db.commit()
    out = cli("register", "--job", jobs[1])
    assert "another commit came first" in out.stderr, out.stderr
    assert db.execute("SELECT count(*) FROM one_race").fetchone() == (0,)
    catalog = SqlCatalog("dbsnaplake", uri=f"sqlite:///{tmp_path / 'raced.db'}", warehouse=str(tmp_path / "wh"))
    t = catalog.load_table("shop.orders")
    assert len(t.metadata.snapshots) == 2 and t.scan().to_arrow().num_rows == 4_000
    metadata = tmp_path / "wh/shop/orders/metadata"
    # The lost attempt's files are gone: two versions, two metadata files, two manifest lists.
    assert len(list(metadata.glob("*.metadata.json"))) == 2
    assert len(list(metadata.glob("snap-*.avro"))) == 2
