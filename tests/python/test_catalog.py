"""The lake registered in the Glue Data Catalog (moto's Glue and S3 on 127.0.0.1), read back with
boto3: columns and types, partition keys, location, projection parameters, registered partitions,
a second snapshot switching the table, a rerun adding nothing, a failed validation touching nothing."""

import json
import os
import subprocess
from pathlib import Path

import boto3
import pytest

from motoserver import CLIENT, moto_server

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("DBSNAPLAKE_BIN", str(ROOT / "target/debug/dbsnaplake"))
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
YEAR_MONTH = [{"name": "year", "from": "order_time", "fn": "year"},
              {"name": "month", "from": "order_time", "fn": "month"}]


@pytest.fixture(scope="module")
def aws():
    with moto_server() as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint, **CLIENT)
        glue = boto3.client("glue", endpoint_url=endpoint, **CLIENT)
        s3.create_bucket(Bucket="lake")
        yield endpoint, s3, glue


def cli(endpoint, *args, ok=True):
    env = {"PATH": os.environ.get("PATH", ""), **CREDENTIALS, "AWS_ENDPOINT_URL_GLUE": endpoint}
    out = subprocess.run([BIN, *args], capture_output=True, text=True, env=env)
    if ok:
        assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out


def snapshot(endpoint, tmp: Path, rows=6_000):
    cli(endpoint, "generate", "--out", str(tmp / "snap"), "--rows", str(rows), "--files", "3",
        "--table", "mydb/public/orders", "--table", "mydb/public/customers")
    return str(tmp / "snap/manifests/manifest-summary.json")


def job(endpoint, tmp: Path, manifest, lake, catalog, name="job.json"):
    j = {"source": {"manifest": manifest}, "staging": str(tmp / f"st-{lake}"),
         "datalake": f"s3://lake/{lake}/", "tables": {"*": {"partition_by": YEAR_MONTH}},
         "s3": {"endpoint_url": endpoint, "path_style": True}, "catalog": catalog}
    (tmp / name).write_text(json.dumps(j))
    return str(tmp / name)


def lake_partitions(s3, lake, table):
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="lake", Prefix=f"{lake}/{table}/").get("Contents", [])]
    return sorted({"/".join(k.split("/")[len(lake.split("/")) + 3:-1]) for k in keys if k.endswith(".parquet")})


def partitions(glue, db, table):
    pages = glue.get_paginator("get_partitions").paginate(DatabaseName=db, TableName=table)
    return [p for page in pages for p in page["Partitions"]]


def test_projection_registers_typed_tables_and_switches_snapshots(aws, tmp_path):
    endpoint, s3, glue = aws
    manifest = snapshot(endpoint, tmp_path)
    catalog = {"type": "glue", "database": "shop", "tables": {"mydb/public/orders": "Orders"}}
    cli(endpoint, "run", "--job", job(endpoint, tmp_path, manifest, "snap-1", catalog))
    t = glue.get_table(DatabaseName="shop", Name="orders")["Table"]
    sd = t["StorageDescriptor"]
    cols = {c["Name"]: c["Type"] for c in sd["Columns"]}
    assert cols["order_id"] == "string" and cols["customer_id"] == "bigint", cols
    assert cols["amount"] == "decimal(12,2)", cols
    assert cols["order_time"] == "timestamp", cols
    assert [k["Name"] for k in t["PartitionKeys"]] == ["year", "month"]
    assert all(k["Type"] == "string" for k in t["PartitionKeys"])
    assert sd["Location"] == "s3://lake/snap-1/mydb/public/orders/"
    assert "ParquetHiveSerDe" in sd["SerdeInfo"]["SerializationLibrary"]
    p = t["Parameters"]
    assert p["classification"] == "parquet" and p["recordCount"] == "6000"
    assert p["projection.enabled"] == "true" and p["projection.year.type"] == "enum"
    held = lake_partitions(s3, "snap-1", "mydb/public/orders")
    assert sorted(p["projection.year.values"].split(",")) == sorted({h.split("/")[0][5:] for h in held})
    assert p["storage.location.template"] == "s3://lake/snap-1/mydb/public/orders/year=${year}/month=${month}/"
    assert partitions(glue, "shop", "orders") == [], "projection registers no partition"
    assert glue.get_table(DatabaseName="shop", Name="customers")["Table"]["Name"] == "customers"
    history = partitions(glue, "shop", "orders_history")
    assert len(history) == len(held) and all(h["Values"][0] == "snap-1" for h in history)

    # A rerun of the same snapshot writes nothing.
    versions = len(glue.get_table_versions(DatabaseName="shop", TableName="orders")["TableVersions"])
    out = cli(endpoint, "register", "--job", str(tmp_path / "job.json"))
    assert "nothing written" in out.stdout and "partitions added: 0" in out.stdout, out.stdout
    assert len(glue.get_table_versions(DatabaseName="shop", TableName="orders")["TableVersions"]) == versions

    # The next snapshot: one update moves the table; the history keeps both.
    cli(endpoint, "run", "--job", job(endpoint, tmp_path, manifest, "snap-2", catalog, "job2.json"))
    t = glue.get_table(DatabaseName="shop", Name="orders")["Table"]
    assert t["StorageDescriptor"]["Location"] == "s3://lake/snap-2/mydb/public/orders/"
    assert t["Parameters"]["storage.location.template"].startswith("s3://lake/snap-2/")
    assert t["Parameters"]["dbsnaplake.snapshot"] == "snap-2"
    history = partitions(glue, "shop", "orders_history")
    assert sorted({h["Values"][0] for h in history}) == ["snap-1", "snap-2"]
    assert len(history) == 2 * len(held)


def test_register_mode_adds_every_partition_and_replaces_the_old_snapshot(aws, tmp_path):
    endpoint, s3, glue = aws
    manifest = snapshot(endpoint, tmp_path)
    catalog = {"type": "glue", "database": "spark", "partitions": "register"}
    cli(endpoint, "run", "--job", job(endpoint, tmp_path, manifest, "reg-1", catalog))
    held = lake_partitions(s3, "reg-1", "mydb/public/orders")
    got = partitions(glue, "spark", "orders")
    assert len(got) == len(held) > 1
    for p in got:
        year, month = p["Values"]
        assert p["StorageDescriptor"]["Location"] == f"s3://lake/reg-1/mydb/public/orders/year={year}/month={month}/"
    assert "projection.enabled" not in glue.get_table(DatabaseName="spark", Name="orders")["Table"]["Parameters"]
    out = cli(endpoint, "register", "--job", str(tmp_path / "job.json"))
    assert "partitions added: 0" in out.stdout, out.stdout
    assert len(partitions(glue, "spark", "orders")) == len(held), "a rerun adds no duplicate"

    cli(endpoint, "run", "--job", job(endpoint, tmp_path, manifest, "reg-2", catalog, "job2.json"))
    got = partitions(glue, "spark", "orders")
    assert len(got) == len(held)
    assert all(p["StorageDescriptor"]["Location"].startswith("s3://lake/reg-2/") for p in got)


def test_a_failed_validation_leaves_the_catalog_as_it_was(aws, tmp_path):
    endpoint, s3, glue = aws
    manifest = snapshot(endpoint, tmp_path)
    path = job(endpoint, tmp_path, manifest, "bad-1", None)
    cli(endpoint, "run", "--job", path)
    # Lose a lake file and the marker: the rerun's validation fails.
    key = next(o["Key"] for o in s3.list_objects_v2(Bucket="lake", Prefix="bad-1/mydb/")["Contents"]
               if o["Key"].endswith(".parquet"))
    s3.delete_object(Bucket="lake", Key=key)
    s3.delete_object(Bucket="lake", Key="bad-1/_SUCCESS")
    path = job(endpoint, tmp_path, manifest, "bad-1", {"type": "glue", "database": "untouched"})
    out = cli(endpoint, "run", "--job", path, ok=False)
    assert out.returncode != 0
    out = cli(endpoint, "register", "--job", path, ok=False)
    assert out.returncode != 0 and "_SUCCESS" in out.stderr, out.stderr
    assert "untouched" not in [d["Name"] for d in glue.get_databases()["DatabaseList"]]


def test_names_and_types_glue_cannot_hold_are_refused_before_anything_runs(aws, tmp_path):
    endpoint, _, _ = aws
    manifest = snapshot(endpoint, tmp_path, rows=500)
    catalog = {"type": "glue", "database": "shop",
               "tables": {"mydb/public/orders": "T", "mydb/public/customers": "t"}}
    out = cli(endpoint, "run", "--job", job(endpoint, tmp_path, manifest, "names", catalog), ok=False)
    assert out.returncode != 0
    assert "mydb/public/customers and mydb/public/orders are both \"t\"" in out.stderr, out.stderr
    j = json.loads(Path(job(endpoint, tmp_path, manifest, "names", {"type": "glue", "database": "shop"})).read_text())
    j["datalake"] = str(tmp_path / "local-lake")
    (tmp_path / "local.json").write_text(json.dumps(j))
    out = cli(endpoint, "run", "--job", str(tmp_path / "local.json"), ok=False)
    assert "give an s3:// datalake" in out.stderr, out.stderr
