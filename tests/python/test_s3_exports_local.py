"""An RDS export and a DynamoDB export in S3 (moto on 127.0.0.1), converted by `dbsnaplake run`
into staging and datalake folders on local disk, as a user tries a real export before deploying:
the S3 store comes with the s3:// source alone, and the lake reads back with every row."""

import gzip
import io
import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from motoserver import CLIENT, moto_server

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("DBSNAPLAKE_BIN", str(ROOT / "target/debug/dbsnaplake"))
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
TASK = "appdb-pg-export-20240601"
EXPORT_ID = "01717211538104-5f2a9c1e"


@pytest.fixture(scope="module")
def s3():
    with moto_server() as endpoint:
        client = boto3.client("s3", endpoint_url=endpoint, **CLIENT)
        client.create_bucket(Bucket="exp")
        yield client, endpoint



def put(client, key, body):
    client.put_object(Bucket="exp", Key=key, Body=body)


def parquet_bytes(table):
    out = io.BytesIO()
    pq.write_table(table, out, compression="gzip")
    return out.getvalue()


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
    root = f"exports/{TASK}"
    put(client, f"{root}/export_info_{TASK}.json", json.dumps({
        "exportTaskIdentifier": TASK, "sourceArn": f"arn:aws:rds:us-east-1:123456789012:snapshot:{TASK}",
        "exportOnly": [], "snapshotTime": "2024-06-01T03:05:00Z", "taskStartTime": "2024-06-01T03:10:00Z",
        "taskEndTime": "2024-06-01T03:40:00Z", "s3Bucket": "exp", "s3Prefix": "exports",
        "status": "COMPLETE", "percentProgress": 100, "totalExportedDataInGB": 0.0001}))
    put(client, f"{root}/export_tables_info_{TASK}_from_1_to_1.json", json.dumps({"perTableStatus": [{
        "TableStatistics": {"partitioningInfo": {"numberOfPartitions": 2, "numberOfCompletedPartitions": 2}},
        "schemaMetadata": {"originalTypeMappings": []},
        "status": "COMPLETE", "sizeGB": 1e-05, "target": "appdb.public.orders"}]}))
    parts = [range(0, 700), range(700, 1000)]
    for n, ids in enumerate(parts):
        t = pa.table({"order_id": pa.array(list(ids), pa.int64()),
                      "amount": pa.array([f"{i * 7 % 1000}.{i % 100:02d}" for i in ids])})
        put(client, f"{root}/appdb/public.orders/1/part-{n:05d}-7a1c6b1e-c000.gz.parquet", parquet_bytes(t))
    put(client, f"{root}/appdb/public.orders/1/_SUCCESS", b"")

    lake = run(tmp_path, endpoint, {"rds_export": f"s3://exp/{root}/"},
               {"tables": {"*": {"sort_by": [{"column": "order_id"}]}}})
    got = ds.dataset(lake / "appdb/public/orders", format="parquet").to_table().sort_by("order_id")
    assert got["order_id"].to_pylist() == list(range(1000))
    want = sum(Decimal(f"{i * 7 % 1000}.{i % 100:02d}") for i in range(1000))
    assert sum(Decimal(a) for a in got["amount"].to_pylist()) == want


def test_a_dynamodb_export_in_s3_converts_into_local_folders(s3, tmp_path):
    client, endpoint = s3
    root = f"ddb/AWSDynamoDB/{EXPORT_ID}"
    lines = []
    for f in range(2):
        items = [{"Item": {"PK": {"S": f"ORDER#{i:04d}"}, "total": {"N": str(i * 3)}}}
                 for i in range(f, 500, 2)]
        key = f"{root}/data/file{f}.json.gz"
        put(client, key, gzip.compress("".join(json.dumps(i) + "\n" for i in items).encode()))
        lines.append({"itemCount": len(items), "dataFileS3Key": key})
    put(client, f"{root}/manifest-files.json", "".join(json.dumps(line) + "\n" for line in lines))
    put(client, f"{root}/manifest-summary.json", json.dumps({
        "version": "2020-06-30", "exportArn": f"arn:aws:dynamodb:us-east-1:123456789012:table/Orders/export/{EXPORT_ID}",
        "startTime": "2024-06-01T04:00:00.000Z", "endTime": "2024-06-01T04:06:51.000Z",
        "tableArn": "arn:aws:dynamodb:us-east-1:123456789012:table/Orders", "tableId": "t",
        "exportTime": "2024-06-01T04:00:00.000Z", "s3Bucket": "exp", "s3Prefix": "ddb",
        "s3SseAlgorithm": "AES256", "s3SseKmsKeyId": None, "manifestFilesS3Key": f"{root}/manifest-files.json",
        "billedSizeBytes": 1000, "itemCount": 500, "outputFormat": "DYNAMODB_JSON"}))

    lake = run(tmp_path, endpoint, {"dynamodb_export": f"s3://exp/{root}/", "table": "ddb/default/orders"})
    got = ds.dataset(lake / "ddb/default/orders", format="parquet").to_table()
    assert sorted(got["PK"].to_pylist()) == [f"ORDER#{i:04d}" for i in range(500)]
    assert sum(int(t) for t in got["total"].to_pylist()) == sum(i * 3 for i in range(500))
