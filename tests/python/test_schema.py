"""`dbsnaplake schema`: the JSON Schema of the job, derived from the config types, checked with
the jsonschema package: every job of the README, examples/ and docs/ is valid, and a misspelt
field, a wrong enum value or a wrong type is refused where the CLI would refuse it."""

import json
import os
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("DBSNAPLAKE_BIN", str(ROOT / "target/debug/dbsnaplake"))


@pytest.fixture(scope="module")
def validator():
    out = subprocess.run([BIN, "schema"], capture_output=True, text=True, check=True)
    schema = json.loads(out.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def documented_jobs():
    """Every whole job (source, staging, datalake) in a JSON block of the docs, and examples/."""
    jobs = [(p.name, json.loads(p.read_text())) for p in sorted((ROOT / "examples").glob("*.json"))]
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for i, block in enumerate(re.findall(r"```json\n(.*?)```", doc.read_text(), re.S)):
            try:
                job = json.loads(block)
            except json.JSONDecodeError:
                continue
            if isinstance(job, dict) and {"source", "staging", "datalake"} <= job.keys():
                jobs.append((f"{doc.name} block {i}", job))
    return jobs


def test_every_documented_job_is_valid(validator):
    jobs = documented_jobs()
    assert len(jobs) >= 3, [name for name, _ in jobs]
    for name, job in jobs:
        errors = [e.message for e in validator.iter_errors(job)]
        assert not errors, f"{name}: {errors}"


def refused(validator, job) -> str:
    errors = list(validator.iter_errors(job))
    assert errors, f"accepted: {job}"
    return " ".join(e.message for e in errors)


def test_misspelt_fields_and_wrong_values_are_refused(validator):
    job = {"source": {"files": "/data/export", "format": "parquet"}, "staging": "/tmp/s", "datalake": "/tmp/l"}
    assert not list(validator.iter_errors(job))
    assert "stagin" in refused(validator, {**job, "stagin": "/tmp/x"})
    spec = {"partiton_by": [{"name": "year", "from": "t", "fn": "year"}]}
    assert "partiton_by" in refused(validator, {**job, "tables": {"*": spec}})
    assert refused(validator, {**job, "output": {"compression": "brotli9"}})
    assert refused(validator, {**job, "group_size": "big"})
    assert refused(validator, {**job, "group_size": 0})
    assert not list(validator.iter_errors({**job, "group_size": "auto", "file_size": 1 << 27}))
    assert refused(validator, {k: v for k, v in job.items() if k != "datalake"})
