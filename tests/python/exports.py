"""Small RDS / Aurora and DynamoDB exports for the tests, written object by object through
`put(key, body)`: into moto's S3 or into a local folder alike."""

import gzip
import io
import json
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

TASK = "appdb-pg-export-20240601"
EXPORT_ID = "01717211538104-5f2a9c1e"
RDS_ROWS = 1000
DYNAMODB_ITEMS = 500


def parquet_bytes(table):
    out = io.BytesIO()
    pq.write_table(table, out, compression="gzip")
    return out.getvalue()


def rds_export(put, root, bucket="exp"):
    """An RDS export task folder at `root`: one table appdb.public.orders of RDS_ROWS rows
    (order_id, amount as decimal text) in two part files."""
    put(f"{root}/export_info_{TASK}.json", json.dumps({
        "exportTaskIdentifier": TASK, "sourceArn": f"arn:aws:rds:us-east-1:123456789012:snapshot:{TASK}",
        "exportOnly": [], "snapshotTime": "2024-06-01T03:05:00Z", "taskStartTime": "2024-06-01T03:10:00Z",
        "taskEndTime": "2024-06-01T03:40:00Z", "s3Bucket": bucket, "s3Prefix": "exports",
        "status": "COMPLETE", "percentProgress": 100, "totalExportedDataInGB": 0.0001}))
    put(f"{root}/export_tables_info_{TASK}_from_1_to_1.json", json.dumps({"perTableStatus": [{
        "TableStatistics": {"partitioningInfo": {"numberOfPartitions": 2, "numberOfCompletedPartitions": 2}},
        "schemaMetadata": {"originalTypeMappings": []},
        "status": "COMPLETE", "sizeGB": 1e-05, "target": "appdb.public.orders"}]}))
    parts = [range(0, 700), range(700, RDS_ROWS)]
    for n, ids in enumerate(parts):
        t = pa.table({"order_id": pa.array(list(ids), pa.int64()),
                      "amount": pa.array([f"{i * 7 % 1000}.{i % 100:02d}" for i in ids])})
        put(f"{root}/appdb/public.orders/1/part-{n:05d}-7a1c6b1e-c000.gz.parquet", parquet_bytes(t))
    put(f"{root}/appdb/public.orders/1/_SUCCESS", b"")


def rds_amount_sum():
    return sum(Decimal(f"{i * 7 % 1000}.{i % 100:02d}") for i in range(RDS_ROWS))


def dynamodb_export(put, prefix, bucket="exp"):
    """A DynamoDB export of table Orders below `prefix` (its AWSDynamoDB/<id>/ folder is
    returned): DYNAMODB_ITEMS items (PK, total) in two gzip files."""
    root = f"{prefix}/AWSDynamoDB/{EXPORT_ID}"
    lines = []
    for f in range(2):
        items = [{"Item": {"PK": {"S": f"ORDER#{i:04d}"}, "total": {"N": str(i * 3)}}}
                 for i in range(f, DYNAMODB_ITEMS, 2)]
        key = f"{root}/data/file{f}.json.gz"
        put(key, gzip.compress("".join(json.dumps(i) + "\n" for i in items).encode()))
        lines.append({"itemCount": len(items), "dataFileS3Key": key})
    put(f"{root}/manifest-files.json", "".join(json.dumps(line) + "\n" for line in lines))
    put(f"{root}/manifest-summary.json", json.dumps({
        "version": "2020-06-30", "exportArn": f"arn:aws:dynamodb:us-east-1:123456789012:table/Orders/export/{EXPORT_ID}",
        "startTime": "2024-06-01T04:00:00.000Z", "endTime": "2024-06-01T04:06:51.000Z",
        "tableArn": "arn:aws:dynamodb:us-east-1:123456789012:table/Orders", "tableId": "t",
        "exportTime": "2024-06-01T04:00:00.000Z", "s3Bucket": bucket, "s3Prefix": prefix,
        "s3SseAlgorithm": "AES256", "s3SseKmsKeyId": None, "manifestFilesS3Key": f"{root}/manifest-files.json",
        "billedSizeBytes": 1000, "itemCount": DYNAMODB_ITEMS, "outputFormat": "DYNAMODB_JSON"}))
    return root
