"""statemachine/dbsnaplake.asl.json executed by a real States Language engine (moto's) with the
real Lambda binaries (see lambda_emulator.py), on a snapshot in moto's S3.

- the execution produces the same lake as `dbsnaplake run` on the same snapshot;
- a staging worker failing once with dbsnaplake.Transient is retried and the lake is the same;
- bad input ends the execution in the Fail state with the error name and the cause;
- `dbsnaplake start` names the execution after the snapshot, and starting it twice is not an error.
"""

import collections
import io
import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lambda_emulator

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("DBSNAPLAKE_BIN", str(ROOT / "target/debug/dbsnaplake"))
TARGET = os.path.dirname(BIN)
MOTO = os.environ.get("MOTO_SERVER", str(ROOT / ".venv/bin/moto_server"))
ASL = (ROOT / "statemachine/dbsnaplake.asl.json").read_text()
FUNCTIONS = {
    "PlannerFunctionArn": "planner",
    "StagingWorkerFunctionArn": "staging-worker",
    "PartitionPlannerFunctionArn": "partition-planner",
    "CompactionWorkerFunctionArn": "compaction-worker",
    "ValidatorFunctionArn": "validator",
}
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """moto (S3 + Step Functions, executing) behind the Lambda proxy, and the deployed state machine."""

    def __init__(self):
        moto_port, self.port = free_port(), free_port()
        self.moto = subprocess.Popen(
            [MOTO, "-H", "127.0.0.1", "-p", str(moto_port)],
            env={**os.environ, "MOTO_PORT": str(self.port)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", moto_port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline, "moto did not start"
                time.sleep(0.1)
        self.s3_endpoint = f"http://127.0.0.1:{moto_port}"
        env = {
            "PATH": os.environ.get("PATH", ""),
            **CREDENTIALS,
            "DBSNAPLAKE_ENDPOINT_URL": self.s3_endpoint,
            "AWS_ENDPOINT_URL_GLUE": self.s3_endpoint,
            "RUST_LOG": "warn",
        }
        functions = {
            f"dbsnaplake-{name}": lambda_emulator.RuntimeApi(
                f"dbsnaplake-{name}", lambda_emulator.binary(TARGET, name), env,
                workers=2 if name.endswith("worker") else 1)
            for name in FUNCTIONS.values()
        }
        self.proxy = lambda_emulator.Proxy(self.port, moto_port, functions)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        req = urllib.request.Request(
            f"{self.s3_endpoint}/moto-api/config", method="POST",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(req).read()
        kw = dict(endpoint_url=self.endpoint, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
        self.s3 = boto3.client("s3", **kw)
        self.sfn = boto3.client("stepfunctions", **kw)
        self.glue = boto3.client("glue", **{**kw, "endpoint_url": self.s3_endpoint})
        for bucket in ("snapshot", "work"):
            self.s3.create_bucket(Bucket=bucket)
        definition = ASL
        for placeholder, name in FUNCTIONS.items():
            definition = definition.replace("${%s}" % placeholder,
                                            f"arn:aws:lambda:us-east-1:123456789012:function:dbsnaplake-{name}")
        self.arn = self.sfn.create_state_machine(
            name="dbsnaplake", definition=definition,
            roleArn="arn:aws:iam::123456789012:role/dbsnaplake-states",
        )["stateMachineArn"]

    def calls(self):
        """Invocations so far per function (without the `dbsnaplake-` prefix)."""
        return collections.Counter({k.removeprefix("dbsnaplake-"): v for k, v in self.proxy.invocations.items()})

    def cli(self, *args, ok=True):
        out = subprocess.run([BIN, "--endpoint-url", self.endpoint, "--path-style", *args],
                             capture_output=True, text=True, env={**os.environ, **CREDENTIALS})
        if ok:
            assert out.returncode == 0, f"{args}: exit {out.returncode}\n{out.stdout}\n{out.stderr}"
        return out

    def execute(self, job: dict, name: str):
        ex = self.sfn.start_execution(stateMachineArn=self.arn, name=name, input=json.dumps(job))
        return self.wait(ex["executionArn"])

    def wait(self, arn: str):
        deadline = time.time() + 300
        while True:
            d = self.sfn.describe_execution(executionArn=arn)
            if d["status"] != "RUNNING":
                return d
            assert time.time() < deadline, f"{arn} still running"
            time.sleep(0.5)

    def lake(self, prefix: str):
        """{partition folder: table of its rows} of every Parquet object under s3://work/<prefix>."""
        keys = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket="work", Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        parts = {}
        for key in sorted(k for k in keys if k.endswith(".parquet")):
            body = self.s3.get_object(Bucket="work", Key=key)["Body"].read()
            table = pq.read_table(io.BytesIO(body))
            times = table["order_time"].to_pylist()
            assert times == sorted(times, reverse=True), f"{key} is not sorted"
            parts.setdefault(key[len(prefix):].rsplit("/", 1)[0], []).append(table)
        return {k: pa.concat_tables(v).sort_by("order_id") for k, v in parts.items()}, keys

    def close(self):
        self.proxy.close()
        self.moto.kill()
        self.moto.wait()


@pytest.fixture(scope="module")
def stack():
    s = Stack()
    s.cli("generate", "--out", "s3://snapshot/export", "--rows", "24000", "--files", "6",
          "--table", "mydb/public/orders", "--table", "mydb/public/customers")
    yield s
    s.close()


def job(run: str, **extra):
    return {
        "source": {"manifest": "s3://snapshot/export/manifests/manifest-summary.json"},
        "staging": f"s3://work/{run}/staging/",
        "datalake": f"s3://work/{run}/lake/",
        "tables": {"*": {
            "partition_by": [{"name": "year", "from": "order_time", "fn": "year"}],
            "sort_by": [{"column": "order_time", "descending": True}]}},
        "group_size": 400_000,
        "file_size": 300_000,
        "concurrency": 3,
        "s3": {"path_style": True},
        **extra,
    }


@pytest.fixture(scope="module")
def reference(stack, tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "job.json"
    path.write_text(json.dumps(job("reference")))
    stack.cli("run", "--job", str(path))
    lake, keys = stack.lake("reference/lake/")
    assert "reference/lake/_SUCCESS" in keys
    assert sum(t.num_rows for t in lake.values()) == 2 * 24000
    return lake


def assert_same_lake(stack, run, reference):
    lake, keys = stack.lake(f"{run}/lake/")
    assert f"{run}/lake/_SUCCESS" in keys
    assert sorted(lake) == sorted(reference)
    assert all(k.startswith(("mydb/public/orders/year=", "mydb/public/customers/year=")) for k in lake)
    for part, table in lake.items():
        assert table.equals(reference[part]), part


def test_the_state_machine_builds_the_same_lake_as_the_cli(stack, reference):
    before = stack.calls()
    d = stack.execute(job("sfn"), "sfn-clean")
    assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
    out = json.loads(d["output"])
    assert out["valid"] is True and out["n_record"] == 2 * 24000, out
    assert_same_lake(stack, "sfn", reference)
    calls = {k: v - before.get(k, 0) for k, v in stack.calls().items()}
    assert calls["planner"] == calls["partition-planner"] == 1, calls
    assert calls["validator"] == 2, "Validate, then Register (a pass-through without a catalog)"
    n_group = json.loads(stack.s3.get_object(
        Bucket="work", Key="sfn/staging/manifests/snapshot-file-groups/plan.json")["Body"].read())["n_group"]
    assert n_group > 1 and calls["staging-worker"] == n_group, (n_group, calls)
    assert calls["compaction-worker"] > 1, calls


def test_the_register_state_catalogues_the_validated_lake(stack, reference):
    catalog = {"type": "glue", "database": "sfn_lake", "partitions": "register"}
    d = stack.execute(job("glue", catalog=catalog), "sfn-glue")
    assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
    assert_same_lake(stack, "glue", reference)
    t = stack.glue.get_table(DatabaseName="sfn_lake", Name="orders")["Table"]
    assert t["StorageDescriptor"]["Location"] == "s3://work/glue/lake/mydb/public/orders/"
    assert t["Parameters"]["recordCount"] == "24000"
    years = {p.split("/")[3] for p in reference if p.startswith("mydb/public/orders/")}
    got = stack.glue.get_partitions(DatabaseName="sfn_lake", TableName="orders")["Partitions"]
    assert sorted(f"year={p['Values'][0]}" for p in got) == sorted(years)


def test_the_register_state_commits_iceberg_versions(stack, reference):
    catalog = {"type": "glue", "database": "sfn_ice", "warehouse": "s3://work/warehouse"}
    d = stack.execute(job("iceberg", output={"format": "iceberg"}, catalog=catalog), "sfn-iceberg")
    assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
    assert_same_lake(stack, "iceberg", reference)
    for table in ("orders", "customers"):
        p = stack.glue.get_table(DatabaseName="sfn_ice", Name=table)["Table"]["Parameters"]
        assert p["table_type"] == "ICEBERG", p
        key = p["metadata_location"].removeprefix("s3://work/")
        assert key.startswith(f"warehouse/sfn_ice/{table}/metadata/00000-"), key
        meta = json.loads(stack.s3.get_object(Bucket="work", Key=key)["Body"].read())
        (snap,) = meta["snapshots"]
        assert snap["summary"]["total-records"] == "24000", snap["summary"]
        assert snap["summary"]["dbsnaplake.datalake"] == "s3://work/iceberg/lake"


def test_a_transient_worker_failure_is_retried(stack, reference):
    before = stack.calls()["staging-worker"]
    stack.proxy.fail_next("dbsnaplake-staging-worker", "dbsnaplake.Transient")
    d = stack.execute(job("retry"), "sfn-retry")
    assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
    n_group = json.loads(stack.s3.get_object(
        Bucket="work", Key="retry/staging/manifests/snapshot-file-groups/plan.json")["Body"].read())["n_group"]
    assert stack.calls()["staging-worker"] - before == n_group + 1, "one group ran twice"
    assert_same_lake(stack, "retry", reference)


def test_bad_input_ends_in_the_fail_state_with_its_cause(stack):
    before = stack.calls()["planner"]
    bad = job("bad", source={"manifest": "s3://snapshot/nowhere/manifest-summary.json"})
    d = stack.execute(bad, "sfn-bad")
    assert d["status"] == "FAILED", d
    assert d["error"] == "dbsnaplake.BadInput", d
    assert "s3://snapshot/nowhere/manifest-summary.json" in d["cause"], d["cause"]
    assert stack.calls()["planner"] - before == 1, "bad input is not retried"
    keys = stack.s3.list_objects_v2(Bucket="work", Prefix="bad/lake/").get("KeyCount", 0)
    assert keys == 0


def test_cli_start_is_idempotent_and_status_reports(stack, tmp_path):
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job("started")))
    first = stack.cli("start", "--state-machine-arn", stack.arn, "--job", str(path)).stdout
    assert first.startswith("started arn:aws:states:"), first
    arn = first.split()[1]
    second = stack.cli("start", "--state-machine-arn", stack.arn, "--job", str(path)).stdout
    assert arn in second, second
    assert stack.wait(arn)["status"] == "SUCCEEDED"
    status = stack.cli("status", arn).stdout
    assert "SUCCEEDED" in status, status
    executions = stack.sfn.list_executions(stateMachineArn=stack.arn)["executions"]
    assert [e["executionArn"] for e in executions].count(arn) == 1


def test_verbose_logs_hold_no_credentials_or_row_contents(stack, tmp_path):
    secret = "dbsnaplakeSecretThatMustNeverBeLogged0123"
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job("logs")))
    env = {**os.environ, **CREDENTIALS, "AWS_SECRET_ACCESS_KEY": secret}
    env.pop("RUST_LOG", None)
    out = subprocess.run([BIN, "--endpoint-url", stack.endpoint, "--path-style", "-vv",
                          "run", "--job", str(path)], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    logs = out.stdout + out.stderr
    assert "group staged" in logs and "lake is valid" in logs, "the verbose log is on"
    assert secret not in logs
    lake, _ = stack.lake("logs/lake/")
    table = next(iter(lake.values()))
    for column in ("order_id", "note"):
        for value in table[column].to_pylist()[:20]:
            if value and len(value) > 6:
                assert value not in logs, f"a {column} value is in the log"
