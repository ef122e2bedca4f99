"""The bad-input corpus (tests/corpus): every case runs `dbsnaplake run` on a copy
of its folder and must end as its expect.json says. A failing case must exit
non-zero with exactly its message, leave no `_SUCCESS`, and write nothing
outside its staging and datalake folders; a case that must succeed must
validate with the expected records per table."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests/corpus"
BIN = os.environ.get("DBSNAPLAKE_BIN", str(ROOT / "target/debug/dbsnaplake"))
# What the reliability issue asks the corpus to hold, at least.
REQUIRED = {
    "truncated-parquet", "zero-byte-file", "wrong-magic", "file-missing", "etag-changed",
    "manifest-json-malformed", "manifest-wrong-columns", "manifest-count-mismatch",
    "type-conflict", "missing-partition-column", "empty-manifest", "empty-table",
    "hostile-partition-values", "unknown-job-field", "staging-inside-datalake",
}
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())


def files_under(d: Path):
    return {str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", CASES)
def test_case(name, tmp_path):
    work = tmp_path / name
    shutil.copytree(CORPUS / name, work)
    expect = json.loads((work / "expect.json").read_text())
    before = files_under(work)
    out = subprocess.run([BIN, "run", "--job", "job.json", "--json"], cwd=work,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == expect["exit"], f"exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    written = files_under(work) - before
    assert all(f.startswith("out/") for f in written), sorted(written)
    if expect["exit"] == 0:
        result = json.loads(out.stdout)
        assert result["valid"]
        assert {t["table"]: t["n_record"] for t in result["tables"]} == expect["records"]
        assert (work / "out/lake/_SUCCESS").exists()
        return
    lines = out.stderr.strip().splitlines()
    assert lines and lines[-1] == "error: " + expect["error"], out.stderr
    assert not any(f.endswith("_SUCCESS") for f in written), sorted(written)


def test_every_corpus_file_belongs_to_a_case_with_an_expectation():
    """Guard: a file dropped into the corpus without a case (job + expectation) fails here."""
    loose = [p.name for p in CORPUS.iterdir() if p.is_file() and p.name not in {"make_corpus.py", "README.md"}]
    assert not loose, f"files outside any case folder: {loose}"
    for name in CASES:
        d = CORPUS / name
        assert (d / "job.json").is_file() and (d / "expect.json").is_file(), f"{name} has no job or expectation"
        expect = json.loads((d / "expect.json").read_text())
        assert expect.get("exit") in (0, 1, 3), f"{name}: exit {expect.get('exit')}"
        assert ("error" in expect) == (expect["exit"] != 0), f"{name}: a failure names its message"
    missing = REQUIRED - set(CASES)
    assert not missing, f"corpus cases missing: {sorted(missing)}"
