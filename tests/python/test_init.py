"""`dbsnaplake init` as a newcomer uses it: pointed at each kind of source (a folder of Parquet
files, a snapshot with its manifest, an RDS export, a DynamoDB export), it writes a job in the
seed's layout that `dbsnaplake run` accepts as it is and that produces a valid lake with every
record, and it says what it chose."""

import json
import os
import subprocess
from pathlib import Path

import pyarrow.dataset as ds
import pytest

import exports

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("DBSNAPLAKE_BIN", str(ROOT / "target/debug/dbsnaplake"))


def cli(*args, ok=True):
    out = subprocess.run([BIN, *args], capture_output=True, text=True)
    if ok:
        assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out


def local_put(root: Path):
    def put(key, body):
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body.encode() if isinstance(body, str) else body)
    return put


def init_and_run(tmp: Path, source: Path):
    """init on `source`, then run the job it wrote; returns (job, init's output, lake)."""
    job_path = tmp / "job.json"
    out = cli("init", str(source), "--datalake", str(tmp / "root"), "--out", str(job_path))
    job = json.loads(job_path.read_text())
    assert job["staging"].startswith(str(tmp / "root/staging/")), job
    assert job["datalake"].startswith(str(tmp / "root/datalake/")), job
    assert "/snapshot=" in job["datalake"], job
    cli("run", "--job", str(job_path))
    lake = Path(job["datalake"])
    assert (lake / "_SUCCESS").exists()
    return job, out.stdout, lake


def test_a_folder_of_parquet_files_and_a_snapshot_with_its_manifest(tmp_path):
    # Over one lake file's worth (128 MiB) of rows: init partitions it by its time column.
    cli("generate", "--out", str(tmp_path / "snap"), "--size", "150MiB", "--files", "3")
    rows = json.loads((tmp_path / "snap/manifests/manifest-summary.json").read_text())["n_record"]

    job, said, lake = init_and_run(tmp_path / "files", tmp_path / "snap/data")
    assert job["source"] == {"files": str(tmp_path / "snap/data") + "/", "format": "parquet"}
    assert job["tables"]["*"]["partition_by"] == [
        {"name": "year", "from": "order_time", "fn": "year"},
        {"name": "month", "from": "order_time", "fn": "month"}]
    assert job["tables"]["*"]["sort_by"] == [{"column": "order_id"}]
    assert "/staging/snap/snapshot=" in job["staging"], job["staging"]
    assert "a folder of 3 parquet files" in said and "partitioned by year/month of order_time" in said, said
    got = ds.dataset(lake, format="parquet", partitioning="hive").to_table()
    assert got.num_rows == rows
    assert len(got["order_id"].unique()) == rows

    job, said, lake = init_and_run(tmp_path / "manifest", tmp_path / "snap")
    assert job["source"] == {"manifest": str(tmp_path / "snap/manifests/manifest-summary.json")}
    assert "with its manifest" in said, said
    assert ds.dataset(lake, format="parquet", partitioning="hive").count_rows() == rows


def test_an_rds_export(tmp_path):
    root = tmp_path / "exports" / exports.TASK
    exports.rds_export(local_put(tmp_path / "exports"), exports.TASK)
    job, said, lake = init_and_run(tmp_path, root)
    assert job["source"] == {"rds_export": str(root) + "/"}
    # The layout is named after the database and the export's snapshot time.
    assert job["datalake"].endswith("/datalake/appdb/snapshot=2024-06-01T03:05:00Z/"), job
    assert job["tables"] == {"appdb/public/orders": {"sort_by": [{"column": "order_id"}]}}
    assert "appdb/public/orders: not partitioned" in said, said
    got = ds.dataset(lake / "appdb/public/orders", format="parquet").to_table()
    assert sorted(got["order_id"].to_pylist()) == list(range(exports.RDS_ROWS))


def test_a_dynamodb_export(tmp_path):
    root = tmp_path / exports.dynamodb_export(local_put(tmp_path), "ddb")
    job, said, lake = init_and_run(tmp_path, root)
    assert job["source"] == {"dynamodb_export": str(root) + "/"}
    assert job["datalake"].endswith("/datalake/Orders/snapshot=2024-06-01T04:00:00Z/"), job
    assert "a DynamoDB export" in said, said
    got = ds.dataset(lake, format="parquet").to_table()
    assert sorted(got["PK"].to_pylist()) == [f"ORDER#{i:04d}" for i in range(exports.DYNAMODB_ITEMS)]


def test_init_names_what_it_cannot_use_and_keeps_an_existing_job(tmp_path):
    (tmp_path / "empty").mkdir()
    out = cli("init", str(tmp_path / "empty"), "--out", str(tmp_path / "job.json"), ok=False)
    assert out.returncode != 0 and "no export, manifest or data file" in out.stderr, out.stderr
    (tmp_path / "job.json").write_text("{}")
    out = cli("init", str(tmp_path / "empty"), "--out", str(tmp_path / "job.json"), ok=False)
    assert "exists" in out.stderr and (tmp_path / "job.json").read_text() == "{}", out.stderr
