"""`dbsnaplake run`'s progress as a user sees it: under a pseudo-terminal, a bar of records that
advances while a step runs (not only when a group ends), with the bytes and groups beside it;
with stderr not a terminal, log lines with the count, percentage and ETA instead of bars."""

import json
import os
import pty
import re
import select
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("DBSNAPLAKE_BIN", str(ROOT / "target/debug/dbsnaplake"))
ROWS = 400_000


def job(tmp: Path) -> Path:
    subprocess.run([BIN, "generate", "--out", str(tmp / "snap"), "--rows", str(ROWS), "--files", "4"],
                   check=True, capture_output=True)
    path = tmp / "job.json"
    path.write_text(json.dumps({
        "source": {"manifest": str(tmp / "snap/manifests/manifest-summary.json")},
        "staging": str(tmp / "staging"), "datalake": str(tmp / "lake"),
        "tables": {"*": {"partition_by": [{"name": "year", "from": "order_time", "fn": "year"}]}},
        # Four groups (one per file), one worker: a step long enough to be seen moving.
        "group_size": 1,
    }))
    return path


def test_the_bar_counts_records_as_they_go(tmp_path):
    path = job(tmp_path)
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(BIN, [BIN, "run", "--job", str(path), "--workers", "1"])
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode(errors="replace"))
    assert os.waitstatus_to_exitcode(status) == 0, text[-3000:]
    staging = [(int(a.replace(",", "")), int(b.replace(",", "")))
               for a, b in re.findall(r"staging \[[^\]]*\] ([\d,]+)/([\d,]+) records", text)]
    assert staging, text[-3000:]
    assert all(total == ROWS for _, total in staging), staging[:5]
    # Counts in between: the bar moved inside the step, not only at a group's end.
    inside = {n for n, _ in staging if 0 < n < ROWS}
    assert len(inside) >= 2, sorted(inside)
    assert re.search(r"MiB read · groups \d/4", text), text[-3000:]
    assert "compacting [" in text


def test_without_a_terminal_progress_is_logged(tmp_path):
    path = job(tmp_path)
    out = subprocess.run([BIN, "run", "--job", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    line = re.search(rf"staging: {ROWS}/{ROWS} records \(100%\), eta 0 s, [\d.]+ \w+ read · groups 4/4",
                     out.stderr)
    assert line, out.stderr
    assert re.search(r"compacting: \d+/\d+ records", out.stderr), out.stderr
    assert "\x1b[" not in out.stderr
