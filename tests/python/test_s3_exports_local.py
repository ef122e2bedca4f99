"""An RDS export and a DynamoDB export in S3 (moto on 127.0.0.1), converted by `dbsnaplake run`
into staging and datalake folders on local disk, as a user tries a real export before deploying:
the S3 store comes with the s3:// source alone, and the lake reads back with every row."""

import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path

import boto3
import pyarrow.dataset as ds
import pytest

import exports
from motoserver import CLIENT, moto_server

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("DBSNAPLAKE_BIN", str(ROOT / "target/debug/dbsnaplake"))
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3():
    with moto_server() as endpoint:
        client = boto3.client("s3", endpoint_url=endpoint, **CLIENT)
        client.create_bucket(Bucket="exp")
        yield client, endpoint



def put(client, key, body):
    client.put_object(Bucket="exp", Key=key, Body=body)


def run(tmp: Path, endpoint, source, extra=None):
    job = {"source": source, "staging": str(tmp / "st"), "datalake": str(tmp / "lake"),
           "s3": {"endpoint_url": endpoint, "path_style": True}, **(extra or {})}
    (tmp / "job.json").write_text(json.dumps(job))
    out = subprocess.run([BIN, "run", "--job", str(tmp / "job.json")], capture_output=True, text=True,
                         env={"PATH": os.environ.get("PATH", ""), **CREDENTIALS})
    assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    assert (tmp / "lake/_SUCCESS").exists()
    return tmp / "lake"


def test_an_rds_export_in_s3_converts_into_local_folders(s3, tmp_path):
    client, endpoint = s3
    root = f"exports/{exports.TASK}"
    exports.rds_export(lambda key, body: put(client, key, body), root)
    lake = run(tmp_path, endpoint, {"rds_export": f"s3://exp/{root}/"},
               {"tables": {"*": {"sort_by": [{"column": "order_id"}]}}})
    got = ds.dataset(lake / "appdb/public/orders", format="parquet").to_table().sort_by("order_id")
    assert got["order_id"].to_pylist() == list(range(exports.RDS_ROWS))
    assert sum(Decimal(a) for a in got["amount"].to_pylist()) == exports.rds_amount_sum()


def test_a_dynamodb_export_in_s3_converts_into_local_folders(s3, tmp_path):
    client, endpoint = s3
    root = exports.dynamodb_export(lambda key, body: put(client, key, body), "ddb")
    lake = run(tmp_path, endpoint, {"dynamodb_export": f"s3://exp/{root}/", "table": "ddb/default/orders"})
    got = ds.dataset(lake / "ddb/default/orders", format="parquet").to_table()
    n = exports.DYNAMODB_ITEMS
    assert sorted(got["PK"].to_pylist()) == [f"ORDER#{i:04d}" for i in range(n)]
    assert sum(int(t) for t in got["total"].to_pylist()) == sum(i * 3 for i in range(n))
