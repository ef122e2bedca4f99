#!/usr/bin/env python3
"""Writes the bad-input corpus: one folder per case, each holding a job
(`job.json`, paths relative to the case folder), its input files, and what
`dbsnaplake run` must do (`expect.json`). Run from anywhere with pyarrow:

    .venv/bin/python tests/corpus/make_corpus.py

The output is committed; tests/python/test_corpus.py runs every case.
"""

import datetime as dt
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
JOB = {"staging": "out/staging", "datalake": "out/lake"}


def rows(n, start=0, **extra):
    t0 = dt.datetime(2021, 1, 1)
    cols = {
        "order_id": [f"o-{start + i:06d}" for i in range(n)],
        "order_time": pa.array([t0 + dt.timedelta(hours=start + i) for i in range(n)], pa.timestamp("us")),
        "amount": [round((start + i) * 1.25, 2) for i in range(n)],
    }
    cols.update(extra)
    return pa.table(cols)


def case(name, job, expect):
    d = HERE / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir()
    (d / "job.json").write_text(json.dumps({**JOB, **job}, indent=2) + "\n")
    (d / "expect.json").write_text(json.dumps(expect, indent=2) + "\n")
    return d


def fails(message):
    return {"exit": 1, "error": message}


def write(d, rel, table):
    p = d / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, p, compression="snappy")
    return p


def manifest(d, files, summary_extra=None):
    """A seed-format snapshot manifest over `files`: (uri, size, n_record, etag, table)."""
    (d / "snap/manifests").mkdir(parents=True, exist_ok=True)
    data = pa.table({
        "uri": [f[0] for f in files],
        "size": pa.array([f[1] for f in files], pa.int64()),
        "n_record": pa.array([f[2] for f in files], pa.int64()),
        "etag": pa.array([f[3] for f in files], pa.string()),
        "table": pa.array([f[4] for f in files], pa.string()),
    })
    pq.write_table(data, d / "snap/manifests/manifest-data.parquet")
    summary = {
        "manifest": "snap/manifests/manifest-data.parquet",
        "size": sum(f[1] for f in files),
        "n_record": sum(f[2] for f in files),
    }
    summary.update(summary_extra or {})
    (d / "snap/manifests/manifest-summary.json").write_text(json.dumps(summary) + "\n")
    return {"source": {"manifest": "snap/manifests/manifest-summary.json"}}


def listed(d, rel, n, table=None, etag=None):
    return (rel, (d / rel).stat().st_size, n, etag, table)


FILES = {"source": {"files": "snap"}}


def main():
    for old in HERE.iterdir():
        if old.is_dir():
            shutil.rmtree(old)

    d = case("truncated-parquet", FILES, fails(
        "snap/part-2.parquet: not a Parquet file, or a truncated one: it does not end with the PAR1 magic"))
    write(d, "snap/part-1.parquet", rows(100))
    p = write(d, "snap/part-2.parquet", rows(100, 100))
    p.write_bytes(p.read_bytes()[:1300])

    d = case("zero-byte-file", FILES, fails("snap/part-2.parquet: an empty file (0 bytes) is not Parquet"))
    write(d, "snap/part-1.parquet", rows(100))
    (d / "snap/part-2.parquet").write_bytes(b"")

    d = case("wrong-magic", FILES, fails(
        "snap/part-2.parquet: not a Parquet file, or a truncated one: it does not end with the PAR1 magic"))
    write(d, "snap/part-1.parquet", rows(100))
    (d / "snap/part-2.parquet").write_bytes(b"order_id,amount\no-1,2.5\n" * 20)

    d = case("file-missing", {}, fails("snap/data/part-2.parquet: not found"))
    write(d, "snap/data/part-1.parquet", rows(100))
    write(d, "snap/data/part-2.parquet", rows(100, 100))
    job = manifest(d, [listed(d, "snap/data/part-1.parquet", 100), listed(d, "snap/data/part-2.parquet", 100)])
    (d / "snap/data/part-2.parquet").unlink()
    (d / "job.json").write_text(json.dumps({**JOB, **job}, indent=2) + "\n")

    d = case("etag-changed", {}, fails(
        "snap/data/part-1.parquet: changed since the manifest was made (its ETag no longer matches); "
        "make a new snapshot manifest"))
    write(d, "snap/data/part-1.parquet", rows(100))
    job = manifest(d, [listed(d, "snap/data/part-1.parquet", 100, etag="4e2-0")])
    (d / "job.json").write_text(json.dumps({**JOB, **job}, indent=2) + "\n")

    d = case("manifest-json-malformed", {"source": {"manifest": "snap/manifests/manifest-summary.json"}}, fails(
        "snap/manifests/manifest-summary.json: not a manifest summary (EOF while parsing an object at "
        "line 1 column 64); expected {\"manifest\": <uri>, \"size\": <bytes>, \"n_record\": <rows>}"))
    (d / "snap/manifests").mkdir(parents=True)
    (d / "snap/manifests/manifest-summary.json").write_text(
        '{"manifest": "snap/manifests/manifest-data.parquet", "size": 100')

    d = case("manifest-wrong-columns", {}, fails(
        "snap/manifests/manifest-data.parquet: manifest data has no `uri` column (it needs uri, size, "
        "n_record, etag)"))
    write(d, "snap/data/part-1.parquet", rows(100))
    job = manifest(d, [listed(d, "snap/data/part-1.parquet", 100)])
    pq.write_table(pa.table({"path": ["snap/data/part-1.parquet"], "bytes": [1]}),
                   d / "snap/manifests/manifest-data.parquet")
    (d / "job.json").write_text(json.dumps({**JOB, **job}, indent=2) + "\n")

    d = case("manifest-count-mismatch", {}, fails(
        "snap/data/part-1.parquet: the manifest says 99 records but the file holds 100"))
    write(d, "snap/data/part-1.parquet", rows(100))
    job = manifest(d, [listed(d, "snap/data/part-1.parquet", 99)])
    (d / "job.json").write_text(json.dumps({**JOB, **job}, indent=2) + "\n")

    d = case("type-conflict", FILES, fails(
        "table *: column \"amount\" is Float64 in snap/part-1.parquet but Utf8 in snap/part-2.parquet; "
        "the types do not widen to one"))
    write(d, "snap/part-1.parquet", rows(100))
    write(d, "snap/part-2.parquet", rows(100, 100).set_column(
        2, "amount", pa.array([str(i) for i in range(100)])))

    d = case("missing-partition-column", {**FILES, "tables": {"*": {
        "partition_by": [{"name": "day", "from": "created_at", "fn": "day"}]}}}, fails(
        "table *: partition day: column \"created_at\" is not in snap/part-1.parquet (columns: "
        "order_id, order_time, amount)"))
    write(d, "snap/part-1.parquet", rows(100))

    d = case("empty-manifest", {}, fails(
        "snap/manifests/manifest-summary.json: the snapshot manifest lists no file; nothing to convert"))
    job = manifest(d, [])
    (d / "job.json").write_text(json.dumps({**JOB, **job}, indent=2) + "\n")

    d = case("empty-table", {}, {"exit": 0, "records": {"db/public/orders": 100, "db/public/returns": 0}})
    write(d, "snap/data/orders/part-1.parquet", rows(100))
    write(d, "snap/data/returns/part-1.parquet", rows(0))
    job = manifest(d, [listed(d, "snap/data/orders/part-1.parquet", 100, "db/public/orders"),
                       listed(d, "snap/data/returns/part-1.parquet", 0, "db/public/returns")])
    (d / "job.json").write_text(json.dumps({**JOB, **job}, indent=2) + "\n")

    long = "x" * 300
    d = case("hostile-partition-values", {**FILES, "tables": {"*": {
        "partition_by": [{"name": "region", "from": "region", "fn": "value"}]}}}, fails(
        f"table *: partition region: value {json.dumps(long[:40])} is too long for a path segment "
        "(307 bytes escaped, at most 255) in snap/part-1.parquet"))
    hostile = ["../../../outside", "a/b", "..", "/etc/passwd", "", None, "%2F", "\\..\\x", long]
    write(d, "snap/part-1.parquet", rows(len(hostile), region=hostile))

    d = case("unknown-job-field", {**FILES, "statging": "out/other"}, fails(
        "in job.json: invalid job: statging: unknown field `statging`, expected one of `source`, "
        "`staging`, `datalake`, `tables`, `group_size`, `group_files`, `file_size`, `concurrency`, `overwrite`, "
        "`output`, `s3`, `catalog` at line 7 column 12"))
    write(d, "snap/part-1.parquet", rows(10))

    d = case("staging-inside-datalake", {**FILES, "staging": "out/lake/staging"}, fails(
        "in job.json: invalid job: staging (out/lake/staging) and datalake (out/lake) overlap; give them "
        "separate folders"))
    write(d, "snap/part-1.parquet", rows(10))

    d = case("snapshot-inside-datalake", {}, fails(
        "snap/manifests/manifest-summary.json: lists out/lake/part-1.parquet, which is inside the job's "
        "datalake folder (out/lake); a snapshot must not live where the lake is built"))
    write(d, "out/lake/part-1.parquet", rows(10))
    job = manifest(d, [listed(d, "out/lake/part-1.parquet", 10)])
    (d / "job.json").write_text(json.dumps({**JOB, **job}, indent=2) + "\n")


if __name__ == "__main__":
    main()
