"""make bench: dbsnaplake against polars and DuckDB on the same job, side by side.

Generates the reference snapshot once (`dbsnaplake generate`, deterministic), then runs, in
turn and ROUNDS times, `dbsnaplake run` and the same job in polars and DuckDB: hive folders
year=YYYY/month=MM from order_time, rows sorted by order_time descending, snappy Parquet.
Prints per tool the median wall time, CPU time, peak RSS (of the whole process tree's largest
process, from wait4), bytes written to disk (the kernel's count of the tree's block output: what
the disk had to take, temporary files included) and MB/s, and the ratio of ours to each peer;
every output is checked
(rows, partitions, sort order) so a fast wrong answer cannot pass.

DuckDB runs twice: on all threads (its files come out unsorted, so their order is not checked)
and on one thread (sorted).

Then the worker bench: peak RSS of one `dbsnaplake stage` on a 512 MiB group and of one
`dbsnaplake compact` writing a ~128 MiB file (what one Lambda invocation holds), and of one
`dbsnaplake compact` merging 300 small staging files, of one `dbsnaplake stage` on a
single large CSV file, and of one `dbsnaplake stage` on groups of many small files (the curve
over BENCH_SMALL_FILES, default 20000,60000,100000 files of 20 rows, ~4.8 KB each).

Environment: BENCH_ROWS (default 10_500_000), BENCH_FILES (100), BENCH_ROUNDS (3),
BENCH_ORDER (`random`, the reference: order_time at random in every file; `time`: order_time
grows with the row number, as in a table exported in primary-key order whose keys follow
insertion time), BENCH_SECTIONS (which parts to run, comma-separated, default all: peers,workers,
many_inputs,text,small_files), DBSNAPLAKE_BIN (target/release/dbsnaplake), BENCH_DIR (.bench)."""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("DBSNAPLAKE_BIN", str(ROOT / "target/release/dbsnaplake"))
DIR = Path(os.environ.get("BENCH_DIR", ROOT / ".bench")).resolve()
ROWS = int(os.environ.get("BENCH_ROWS", 10_500_000))
FILES = int(os.environ.get("BENCH_FILES", 100))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))
ORDER = os.environ.get("BENCH_ORDER", "random")
if ORDER not in ("random", "time"):
    sys.exit(f"BENCH_ORDER={ORDER!r}: use random or time")
SNAP = DIR / (f"snapshot-{ROWS}-{FILES}" + ("-time" if ORDER == "time" else ""))

POLARS = """
import sys, polars as pl
src, out = sys.argv[1], sys.argv[2]
lf = pl.scan_parquet(src + "/data/*.parquet").with_columns(
    year=pl.col("order_time").dt.year().cast(pl.String),
    month=pl.col("order_time").dt.month().cast(pl.String).str.zfill(2),
).sort("order_time", descending=True)
lf.sink_parquet(pl.PartitionBy(out, key=["year", "month"], include_key=False), mkdir=True, compression="snappy")
"""

DUCKDB = """
import sys, duckdb
src, out, threads = sys.argv[1], sys.argv[2], sys.argv[3]
if threads != "all":
    duckdb.sql(f"SET threads = {threads}")
duckdb.sql(f'''
COPY (SELECT *, year(order_time)::VARCHAR AS year, lpad(month(order_time)::VARCHAR, 2, '0') AS month
      FROM read_parquet('{src}/data/*.parquet')
      ORDER BY order_time DESC)
TO '{out}' (FORMAT parquet, PARTITION_BY (year, month), COMPRESSION snappy, OVERWRITE_OR_IGNORE)
''')
"""


def measure(cmd):
    """Runs cmd; returns (wall s, cpu s, peak RSS MB, MB written to disk)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[0]} failed: {proc.stderr.read().decode()[-2000:]}")
    # ru_oublock counts 512-byte blocks on Linux.
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, usage.ru_oublock * 512 / 1e6


def check(out: Path, expected_rows: int, ordered: bool = True):
    """Rows, 36 year/month partitions, each file sorted by order_time descending (when `ordered`)."""
    import pyarrow.parquet as pq

    files = sorted(p for p in out.rglob("*.parquet"))
    parts = {p.parent.relative_to(out).as_posix() for p in files}
    parts = {"/".join(x for x in p.split("/") if x.startswith(("year=", "month="))) for p in parts}
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    assert rows == expected_rows, f"{out}: {rows} rows, expected {expected_rows}"
    assert len(parts) == 36, f"{out}: {len(parts)} partitions"
    for f in files[:: max(1, len(files) // 12)] if ordered else []:
        t = pq.read_table(f, columns=["order_time"])["order_time"].cast("int64").to_pylist()
        assert all(a >= b for a, b in zip(t, t[1:])), f"{f} is not sorted by order_time descending"
    return len(files)


def reference_snapshot():
    """Generates the reference snapshot once."""
    if not (SNAP / "manifests/manifest-summary.json").exists():
        shutil.rmtree(SNAP, ignore_errors=True)
        subprocess.run([BIN, "generate", "--out", str(SNAP), "--rows", str(ROWS), "--files", str(FILES)]
                       + (["--time-ordered"] if ORDER == "time" else []), check=True)


def main():
    reference_snapshot()
    size_mb = sum(p.stat().st_size for p in (SNAP / "data").glob("*.parquet")) / 1e6
    (DIR / "polars_job.py").write_text(POLARS)
    (DIR / "duckdb_job.py").write_text(DUCKDB)
    job = {
        "source": {"manifest": str(SNAP / "manifests/manifest-summary.json")},
        "staging": str(DIR / "out/dbsnaplake-staging"),
        "datalake": str(DIR / "out/dbsnaplake"),
        "tables": {"*": {
            "partition_by": [{"name": "year", "from": "order_time", "fn": "year"},
                             {"name": "month", "from": "order_time", "fn": "month"}],
            "sort_by": [{"column": "order_time", "descending": True}]}},
        "file_size": 134217728,
    }
    (DIR / "job.json").write_text(json.dumps(job))
    tools = {
        "dbsnaplake": ([BIN, "run", "--job", str(DIR / "job.json")], DIR / "out/dbsnaplake"),
        "polars": ([sys.executable, str(DIR / "polars_job.py"), str(SNAP), str(DIR / "out/polars")], DIR / "out/polars"),
        # DuckDB writes partitioned files unsorted when it runs in parallel (its rows are checked,
        # not their order); sorted output needs one thread.
        "duckdb-par": ([sys.executable, str(DIR / "duckdb_job.py"), str(SNAP), str(DIR / "out/duckdb"), "all"],
                       DIR / "out/duckdb"),
        "duckdb-1t": ([sys.executable, str(DIR / "duckdb_job.py"), str(SNAP), str(DIR / "out/duckdb"), "1"],
                      DIR / "out/duckdb"),
    }
    ordered = {"duckdb-par": False}
    results = {t: [] for t in tools}
    for r in range(ROUNDS):
        for name, (cmd, out) in tools.items():
            shutil.rmtree(DIR / "out", ignore_errors=True)
            (DIR / "out").mkdir()
            wall, cpu, rss, written = measure(cmd)
            n_files = check(out, ROWS, ordered.get(name, True))
            results[name].append((wall, cpu, rss, written))
            print(f"round {r + 1} {name:<10} {wall:7.2f} s wall {cpu:7.2f} s cpu {rss:7.0f} MB peak "
                  f"{written:7.0f} MB written, {n_files} files", flush=True)
    print(f"\n{'reference' if ORDER == 'random' else 'time-ordered'}: {ROWS} rows, {FILES} files, "
          f"{size_mb:.0f} MB of snappy Parquet; median of {ROUNDS}")
    print("duckdb-par: all threads, files NOT sorted (order unchecked); duckdb-1t: one thread, sorted")
    print(f"{'tool':<11}{'wall s':>9}{'cpu s':>9}{'peak MB':>9}{'written MB':>12}{'MB/s':>8}{'ours/this':>11}")
    ours = statistics.median(r[0] for r in results["dbsnaplake"])
    for name, rs in results.items():
        wall = statistics.median(r[0] for r in rs)
        cpu = statistics.median(r[1] for r in rs)
        rss = max(r[2] for r in rs)
        written = statistics.median(r[3] for r in rs)
        print(f"{name:<11}{wall:9.2f}{cpu:9.2f}{rss:9.0f}{written:12.0f}{size_mb / wall:8.0f}{ours / wall:11.2f}")


def step(job_path, *args):
    """Runs one dbsnaplake step of the job at job_path."""
    subprocess.run([BIN, *args, "--job", str(job_path)], capture_output=True, check=True)


def groups(job, kind):
    """The group summaries of `kind` the job's planner wrote."""
    folder = Path(job["staging"]) / f"manifests/{kind}/manifest-summary"
    return sorted(folder.glob("manifest-summary-*.json"))


def worker_bench():
    """Peak RSS of one staging worker on a 512 MiB group and of one compaction worker writing a
    ~128 MiB file: an unpartitioned job, so one partition file group holds 128 MiB."""
    reference_snapshot()
    job = {
        "source": {"manifest": str(SNAP / "manifests/manifest-summary.json")},
        "staging": str(DIR / "out/workers-staging"),
        "datalake": str(DIR / "out/workers-lake"),
        "tables": {"*": {"sort_by": [{"column": "order_time", "descending": True}]}},
        "group_size": 512 * 1024 * 1024,
        "file_size": 128 * 1024 * 1024,
    }
    shutil.rmtree(DIR / "out", ignore_errors=True)
    (DIR / "out").mkdir()
    path = DIR / "workers-job.json"
    path.write_text(json.dumps(job))

    step(path, "plan")
    print("\nworker bench (one process per group, as one Lambda invocation)")
    for g in groups(job, "snapshot-file-groups"):
        size = json.loads(g.read_text())["size"]
        wall, _, rss, _ = measure([BIN, "stage", "--job", str(path), "--group", str(g)])
        print(f"stage   {size / 2**20:7.0f} MiB group  {wall:6.2f} s wall {rss:6.0f} MB peak")
    step(path, "plan-partitions")
    for g in groups(job, "partition-file-groups")[:2]:
        size = json.loads(g.read_text())["size"]
        wall, _, rss, _ = measure([BIN, "compact", "--job", str(path), "--group", str(g)])
        print(f"compact {size / 2**20:7.0f} MiB group  {wall:6.2f} s wall {rss:6.0f} MB peak")
    files = sorted((DIR / "out/workers-lake").rglob("*.parquet"))
    print("compacted files:", ", ".join(f"{f.stat().st_size / 2**20:.0f} MiB" for f in files))


def many_inputs_bench():
    """Peak RSS of one compaction worker merging 300 small staging files (7,000 rows each, one
    partition): a partition every staging group touched a little of. Each snapshot file is staged
    as a group of its own."""
    snap = DIR / "snapshot-many-inputs"
    if not (snap / "manifests/manifest-summary.json").exists():
        shutil.rmtree(snap, ignore_errors=True)
        subprocess.run([BIN, "generate", "--out", str(snap), "--rows", "2100000", "--files", "300"],
                       check=True, capture_output=True)
    job = {
        "source": {"manifest": str(snap / "manifests/manifest-summary.json")},
        "staging": str(DIR / "out/many-staging"),
        "datalake": str(DIR / "out/many-lake"),
        "tables": {"*": {"sort_by": [{"column": "order_time", "descending": True}]}},
        "group_size": 1,
    }
    path = DIR / "many-inputs-job.json"
    path.write_text(json.dumps(job))

    step(path, "plan")
    for g in groups(job, "snapshot-file-groups"):
        step(path, "stage", "--group", str(g))
    step(path, "plan-partitions")
    (g,) = groups(job, "partition-file-groups")
    summary = json.loads(g.read_text())
    wall, _, rss, _ = measure([BIN, "compact", "--job", str(path), "--group", str(g)])
    print(f"compact {summary['size'] / 2**20:7.0f} MiB group of {summary['n_file']} staging files"
          f"  {wall:6.2f} s wall {rss:6.0f} MB peak")
    # Merged in passes: the lake must still hold every record of the snapshot.
    step(path, "validate")


def text_bench():
    """Peak RSS of one staging worker on a group of one large CSV file (4 million rows, ~390 MiB):
    text files are read as a stream of ranges, so the file's size does not add to it."""
    src = DIR / "csv-one-file"
    csv = src / "orders.csv"
    if not csv.exists():
        shutil.rmtree(src, ignore_errors=True)
        src.mkdir(parents=True)
        tmp = csv.with_suffix(".tmp")
        with tmp.open("w") as f:
            f.write("id,order_time,amount,note\n")
            for i in range(4_000_000):
                f.write(f"{i},2024-{i % 12 + 1:02d}-{i % 28 + 1:02d}T10:00:00Z,{i * 0.25},"
                        f"order note {i} with some words to widen the row\n")
        tmp.rename(csv)
    job = {
        "source": {"files": str(src), "format": "csv"},
        "staging": str(DIR / "out/csv-staging"),
        "datalake": str(DIR / "out/csv-lake"),
        "tables": {"*": {"partition_by": [{"name": "month", "from": "order_time", "fn": "month"}],
                         "sort_by": [{"column": "id"}]}},
    }
    path = DIR / "csv-job.json"
    path.write_text(json.dumps(job))
    step(path, "plan")
    (g,) = groups(job, "snapshot-file-groups")
    wall, _, rss, _ = measure([BIN, "stage", "--job", str(path), "--group", str(g)])
    print(f"stage   {csv.stat().st_size / 2**20:7.0f} MiB CSV file     {wall:6.2f} s wall {rss:6.0f} MB peak")
    step(path, "plan-partitions")
    for g in groups(job, "partition-file-groups"):
        step(path, "compact", "--group", str(g))
    step(path, "validate")


def small_files_bench():
    """Peak RSS of one staging worker on one group of N small files (20 rows, ~4.8 KB each, as
    DynamoDB and busy RDS exports have them), for each N of BENCH_SMALL_FILES: what is held per
    file must not grow the peak. `group_files` lifts the planner's cap so each is one group."""
    counts = [int(n) for n in os.environ.get("BENCH_SMALL_FILES", "20000,60000,100000").split(",")]
    print("\nsmall files (one staging group each; peak over the first's)")
    first = None
    for n in counts:
        snap = DIR / f"snapshot-small-{n}"
        if not (snap / "manifests/manifest-summary.json").exists():
            shutil.rmtree(snap, ignore_errors=True)
            subprocess.run([BIN, "generate", "--out", str(snap), "--rows", str(20 * n), "--files", str(n)],
                           check=True, capture_output=True)
        job = {
            "source": {"manifest": str(snap / "manifests/manifest-summary.json")},
            "staging": str(DIR / "out/small-staging"),
            "datalake": str(DIR / "out/small-lake"),
            "tables": {"*": {"partition_by": [{"name": "year", "from": "order_time", "fn": "year"}]}},
            "group_size": 1 << 40,
            "group_files": n,
        }
        shutil.rmtree(DIR / "out", ignore_errors=True)
        (DIR / "out").mkdir()
        path = DIR / "small-files-job.json"
        path.write_text(json.dumps(job))
        step(path, "plan")
        (g,) = groups(job, "snapshot-file-groups")
        wall, _, rss, _ = measure([BIN, "stage", "--job", str(path), "--group", str(g)])
        first = first or rss
        print(f"stage   {n:7d} files group   {wall:6.2f} s wall {rss:6.0f} MB peak  {rss / first:5.2f}")
        step(path, "plan-partitions")
        for g in groups(job, "partition-file-groups"):
            step(path, "compact", "--group", str(g))
        step(path, "validate")


SECTIONS = {"peers": main, "workers": worker_bench, "many_inputs": many_inputs_bench,
            "text": text_bench, "small_files": small_files_bench}

if __name__ == "__main__":
    chosen = os.environ.get("BENCH_SECTIONS", ",".join(SECTIONS)).split(",")
    if unknown := [c for c in chosen if c not in SECTIONS]:
        sys.exit(f"BENCH_SECTIONS: unknown {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    DIR.mkdir(parents=True, exist_ok=True)
    for c in chosen:
        SECTIONS[c]()
