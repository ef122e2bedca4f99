"""A `dbsnaplake run` killed (SIGKILL) at any moment, mid-write or between a
file and its manifest, then run again, ends in the same lake, byte for byte,
as one uninterrupted run."""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

BIN = os.environ.get("DBSNAPLAKE_BIN", str(Path(__file__).resolve().parents[2] / "target/debug/dbsnaplake"))


def tree(folder: Path):
    """Every visible file (hidden ones are a killed writer's temporaries) -> bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }


def run(job: Path):
    out = subprocess.run([BIN, "run", "--job", str(job), "--workers", "2"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out


def test_killed_runs_resume_into_the_clean_lake(tmp_path):
    subprocess.run([BIN, "generate", "--out", str(tmp_path / "snap"), "--rows", "400000", "--files", "8",
                    "--table", "db/public/orders"], check=True, capture_output=True)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({
        "source": {"manifest": str(tmp_path / "snap/manifests/manifest-summary.json")},
        "staging": str(tmp_path / "out/staging"),
        "datalake": str(tmp_path / "out/lake"),
        "tables": {"*": {
            "partition_by": [{"name": "year", "from": "order_time", "fn": "year"}],
            "sort_by": [{"column": "order_time", "descending": True}]}},
        "group_size": 4_000_000,
        "file_size": 3_000_000,
    }))
    started = time.monotonic()
    run(job)
    took = time.monotonic() - started
    clean = tree(tmp_path / "out/lake")
    assert len(clean) > 5

    killed_midway = 0
    for fraction in (0.1, 0.3, 0.5, 0.7, 0.9):
        shutil.rmtree(tmp_path / "out")
        # Killed once, killed again during the rerun, then left to finish.
        for delay in (fraction, fraction / 2):
            p = subprocess.Popen([BIN, "run", "--job", str(job), "--workers", "2"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(took * delay)
            if p.poll() is None:
                killed_midway += 1
            p.kill()
            p.wait()
            assert (
                not (tmp_path / "out/lake/_SUCCESS").exists()
                or tree(tmp_path / "out/lake") == clean
            ), "a lake marked finished is the finished lake"
        run(job)
        assert tree(tmp_path / "out/lake") == clean, f"killed at {fraction:.0%}"
    assert killed_midway >= 6, killed_midway
