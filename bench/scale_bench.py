"""make bench-scale: the reference job at BENCH_SCALE GB, dbsnaplake vs polars vs DuckDB, one run
each, each tool in a memory limit of its own (a cgroup: BENCH_SCALE_MEMORY, default 20 GiB) so
that one outgrowing the machine fails alone and is reported as such. Not part of CI.

The snapshot is the reference one of `make bench` (generated once) repeated by hard links until
it reaches the scale: the same rows over and over, which is the same work per GB for every tool.
Ours also runs at each of BENCH_SCALE_STEPS (default "1,BENCH_SCALE") GB, to show its seconds per
GB staying flat from 1 GB up.

Environment: BENCH_SCALE (8), BENCH_SCALE_STEPS, BENCH_SCALE_MEMORY (bytes or 20G), BENCH_DIR,
DBSNAPLAKE_BIN, and BENCH_ROWS/BENCH_FILES for the reference snapshot as in bench.py."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import bench

SCALE = float(os.environ.get("BENCH_SCALE", 8))
STEPS = [float(s) for s in os.environ.get("BENCH_SCALE_STEPS", f"1,{SCALE:g}").split(",")]
MEMORY = os.environ.get("BENCH_SCALE_MEMORY", "20G")


def parse_bytes(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


class Cgroup:
    """A memory cgroup (v2, else v1) a child joins before it runs; `None` path if none can be made."""

    def __init__(self, name: str, limit: int):
        self.path, self.v2 = None, False
        for root, v2 in ((Path("/sys/fs/cgroup"), True), (Path("/sys/fs/cgroup/memory"), False)):
            if v2 and not (root / "cgroup.controllers").exists():
                continue
            path = root / name
            try:
                path.mkdir(exist_ok=True)
                (path / ("memory.max" if v2 else "memory.limit_in_bytes")).write_text(str(limit))
            except OSError:
                continue
            self.path, self.v2 = path, v2
            return

    def join(self):
        if self.path:
            (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def oom_killed(self) -> bool:
        if not self.path:
            return False
        events = self.path / ("memory.events" if self.v2 else "memory.oom_control")
        for line in events.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and int(value) > 0:
                return True
        return False

    def remove(self):
        if self.path:
            self.path.rmdir()


def scaled_snapshot(gb: float) -> Path:
    """A folder of hard links to the reference files, about `gb` GB of them."""
    bench.reference_snapshot()
    files = sorted((bench.SNAP / "data").rglob("*.parquet"))
    one = sum(f.stat().st_size for f in files)
    copies = max(1, round(gb * 1e9 / one))
    folder = bench.DIR / f"scaled-{copies}x"
    if not (folder / ".done").exists():
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "data").mkdir(parents=True)
        for c in range(copies):
            for f in files:
                os.link(f, folder / "data" / f"c{c:03d}-{f.name}")
        (folder / ".done").touch()
    return folder


def run_limited(name: str, cmd, limit: int):
    """(wall s, cpu s, peak MB, status) of cmd in a memory cgroup of `limit` bytes."""
    group = Cgroup(f"dbsnaplake-bench-{name}-{os.getpid()}", limit)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=group.join)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    if code == 0:
        outcome = "ok"
    elif group.oom_killed() or code == -9:
        outcome = f"out of memory (limit {limit / 2**20:.0f} MiB)"
    else:
        outcome = f"failed (exit {code}): {err.strip().splitlines()[-1] if err.strip() else ''}"
    group.remove()
    limited = "" if group.path else " (no cgroup: unlimited)"
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, outcome + limited


def main():
    bench.DIR.mkdir(parents=True, exist_ok=True)
    limit = parse_bytes(MEMORY)
    (bench.DIR / "polars_job.py").write_text(bench.POLARS)
    (bench.DIR / "duckdb_job.py").write_text(bench.DUCKDB)
    rows = []
    for gb in sorted(set(STEPS + [SCALE])):
        src = scaled_snapshot(gb)
        size = sum(f.stat().st_size for f in (src / "data").glob("*.parquet")) / 1e9
        job = {
            "source": {"files": str(src / "data"), "format": "parquet"},
            "staging": str(bench.DIR / "out/dbsnaplake-staging"),
            "datalake": str(bench.DIR / "out/dbsnaplake"),
            "tables": {"*": {
                "partition_by": [{"name": "year", "from": "order_time", "fn": "year"},
                                 {"name": "month", "from": "order_time", "fn": "month"}],
                "sort_by": [{"column": "order_time", "descending": True}]}},
        }
        (bench.DIR / "scale-job.json").write_text(json.dumps(job))
        tools = {"dbsnaplake": [bench.BIN, "run", "--job", str(bench.DIR / "scale-job.json")]}
        if gb == SCALE:
            tools |= {
                "polars": [sys.executable, str(bench.DIR / "polars_job.py"), str(src), str(bench.DIR / "out/polars")],
                "duckdb": [sys.executable, str(bench.DIR / "duckdb_job.py"), str(src), str(bench.DIR / "out/duckdb"), "all"],
            }
        for name, cmd in tools.items():
            shutil.rmtree(bench.DIR / "out", ignore_errors=True)
            (bench.DIR / "out").mkdir()
            wall, cpu, rss, outcome = run_limited(name, cmd, limit)
            rows.append((size, name, wall, cpu, rss, outcome))
            print(f"{size:6.1f} GB {name:<11} {wall:8.1f} s wall {cpu:8.1f} s cpu {rss:8.0f} MB peak  "
                  f"{wall / size:6.1f} s/GB  {outcome}", flush=True)
    shutil.rmtree(bench.DIR / "out", ignore_errors=True)
    print(f"\none run each; memory limit {limit / 2**20:.0f} MiB a tool")
    print(f"{'GB':>6} {'tool':<11}{'wall s':>9}{'cpu s':>9}{'peak MB':>9}{'s/GB':>7}{'ours/this':>11}  outcome")
    ours = {size: wall for size, name, wall, *_, outcome in rows
            if name == "dbsnaplake" and outcome.startswith("ok")}
    for size, name, wall, cpu, rss, outcome in rows:
        ratio = ours[size] / wall if outcome.startswith("ok") and size in ours else float("nan")
        print(f"{size:6.1f} {name:<11}{wall:9.1f}{cpu:9.1f}{rss:9.0f}{wall / size:7.1f}{ratio:11.2f}  {outcome}")


if __name__ == "__main__":
    main()
