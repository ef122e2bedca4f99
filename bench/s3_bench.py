"""make bench-s3: one staging and one compaction worker against an S3 server (moto) on loopback.

Starts moto on a free port, writes a deterministic snapshot into it (`dbsnaplake generate`,
S3_BENCH_ROWS rows in S3_BENCH_FILES files, row groups of at most S3_BENCH_ROW_GROUP_ROWS rows),
plans it as one group, and times, ROUNDS times, `dbsnaplake stage` of that group (year/month
partitions: many small staging files, each one PUT) and `dbsnaplake compact` of one year
partition (one ~67 MB lake file: a multipart upload).
Each worker is one process, as one Lambda invocation; the step before it is redone between
rounds so every round does the same work. Prints the median wall time, CPU time, peak RSS and
the cores busy on average (CPU over wall: below 1, the worker mostly waited on S3), and the
bytes and objects staging wrote to S3 (what a staging format costs there).

With BENCH_BASELINE=<another dbsnaplake binary>, the two binaries alternate and the ratio of
ours to the baseline is printed: how the S3 work of two versions compares on this machine.

Loopback has next to no latency and plenty of bandwidth, so S3 proper gains more from what
overlaps requests with work than these figures show.

Files over 64 MiB are read row group by row group rather than fetched whole ahead of their turn:
S3_BENCH_FILES=2 S3_BENCH_ROW_GROUP_ROWS=250000 times that way of reading.

Environment: S3_BENCH_ROWS (3_000_000), S3_BENCH_FILES (30), S3_BENCH_ROW_GROUP_ROWS (1048576),
BENCH_ROUNDS (3), DBSNAPLAKE_BIN (target/release/dbsnaplake), BENCH_BASELINE (none)."""

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import BIN, ROOT, ROUNDS, measure

ROWS = int(os.environ.get("S3_BENCH_ROWS", 3_000_000))
FILES = int(os.environ.get("S3_BENCH_FILES", 30))
ROW_GROUP_ROWS = int(os.environ.get("S3_BENCH_ROW_GROUP_ROWS", 1_048_576))
BASELINE = os.environ.get("BENCH_BASELINE")
MOTO = ROOT / ".venv/bin/moto_server"
BUCKET = "bench"
YEAR = {"name": "year", "from": "order_time", "fn": "year"}
MONTH = {"name": "month", "from": "order_time", "fn": "month"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto():
    port = free_port()
    proc = subprocess.Popen([str(MOTO), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, endpoint
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"moto did not start on port {port}")


def main():
    if not MOTO.exists():
        sys.exit(f"{MOTO} is missing: run `make python-deps`")
    proc, endpoint = start_moto()
    # The workers (and boto3, for the set-up) find moto and its credentials here.
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_REGION="us-east-1", DBSNAPLAKE_ENDPOINT_URL=endpoint)
    try:
        run(endpoint)
    finally:
        proc.kill()


def run(endpoint):
    import boto3

    s3 = boto3.resource("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=BUCKET)
    bucket = s3.Bucket(BUCKET)
    subprocess.run([BIN, "generate", "--path-style", "--out", f"s3://{BUCKET}/snap",
                    "--rows", str(ROWS), "--files", str(FILES),
                    "--row-group-rows", str(ROW_GROUP_ROWS)], check=True,
                   stdout=subprocess.DEVNULL)
    size = sum(o.size for o in bucket.objects.filter(Prefix="snap/data/"))
    tmp = Path(tempfile.mkdtemp(prefix="s3-bench-"))

    def job(name, partition_by):
        path = tmp / f"{name}.json"
        path.write_text(json.dumps({
            "source": {"manifest": f"s3://{BUCKET}/snap/manifests/manifest-summary.json"},
            "staging": f"s3://{BUCKET}/{name}/staging", "datalake": f"s3://{BUCKET}/{name}/lake",
            "tables": {"*": {"partition_by": partition_by,
                             "sort_by": [{"column": "order_time", "descending": True}]}},
            "group_size": 512 * 1024 * 1024, "file_size": 128 * 1024 * 1024,
            "s3": {"path_style": True},
        }))
        return str(path)

    def step(binary, *args):
        subprocess.run([binary, *args], check=True, capture_output=True)

    def group(name, kind):
        return f"s3://{BUCKET}/{name}/staging/manifests/{kind}/manifest-summary/manifest-summary-1.json"

    stage_job, compact_job = job("months", [YEAR, MONTH]), job("years", [YEAR])
    # The compaction input: one group staged once, planned by year (~1/3 of the rows each).
    step(BIN, "plan", "--job", compact_job)
    step(BIN, "stage", "--job", compact_job, "--group", group("years", "snapshot-file-groups"))
    step(BIN, "plan-partitions", "--job", compact_job)

    binaries = {"dbsnaplake": BIN} | ({"baseline": BASELINE} if BASELINE else {})
    results = {(w, b): [] for w in ("stage", "compact") for b in binaries}
    staging = {}
    for r in range(ROUNDS):
        for label, binary in binaries.items():
            # Staging from scratch: clean and plan, then time the worker.
            step(binary, "clean", "--job", stage_job)
            step(binary, "plan", "--job", stage_job)
            results[("stage", label)].append(measure(
                [binary, "stage", "--job", stage_job, "--group", group("months", "snapshot-file-groups")]))
            # What staging put on S3: the bytes and objects a staging format costs there.
            staged = [o.size for o in bucket.objects.filter(Prefix="months/staging/")
                      if "/manifests/" not in o.key]
            staging[label] = (sum(staged), len(staged))
            # Compaction again: drop the lake file and the lake manifests it left.
            bucket.objects.filter(Prefix="years/lake/").delete()
            bucket.objects.filter(Prefix="years/staging/manifests/datalake-file-groups/").delete()
            results[("compact", label)].append(measure(
                [binary, "compact", "--job", compact_job, "--group", group("years", "partition-file-groups")]))
            print(f"round {r + 1} {label:<10} stage {results[('stage', label)][-1][0]:6.2f} s  "
                  f"compact {results[('compact', label)][-1][0]:6.2f} s", flush=True)
    lake = max(o.size for o in bucket.objects.filter(Prefix="years/lake/"))
    print(f"\nS3 (moto on loopback): {ROWS} rows, {FILES} files, {size / 2**20:.0f} MiB, "
          f"row groups of at most {ROW_GROUP_ROWS} rows; median of {ROUNDS}")
    print(f"stage: one group into 36 year/month partitions; compact: one year into a "
          f"{lake / 2**20:.0f} MiB lake file")
    print(f"{'worker':<9}{'binary':<12}{'wall s':>8}{'cpu s':>8}{'peak MB':>9}{'cores':>7}{'ours/this':>11}")
    for (worker, label), rs in results.items():
        wall = statistics.median(x[0] for x in rs)
        cpu = statistics.median(x[1] for x in rs)
        rss = statistics.median(x[2] for x in rs)
        ours = statistics.median(x[0] for x in results[(worker, "dbsnaplake")])
        print(f"{worker:<9}{label:<12}{wall:8.2f}{cpu:8.2f}{rss:9.0f}{cpu / wall:7.2f}{ours / wall:11.2f}")
    for label, (nbytes, n) in staging.items():
        print(f"staging written by {label}: {nbytes / 2**20:.1f} MiB in {n} objects "
              f"({nbytes / size:.2f}x the snapshot's bytes)")


if __name__ == "__main__":
    main()
