"""`dbsnaplake replay` against moto's SQS and Step Functions on 127.0.0.1: the export events the
failed events queue kept (an EventBridge dead letter, a Lambda on-failure record) start their
conversions, once; a message that still cannot start stays in the queue, with its reason."""

import json
import os
import subprocess
from pathlib import Path

import boto3

from motoserver import CLIENT, moto_server

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("DBSNAPLAKE_BIN", str(ROOT / "target/debug/dbsnaplake"))
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
FIXTURES = ROOT / "crates/lambda-common/src/fixtures"
TEMPLATE = ('{"source": {"${ExportKind}": "${ExportUri}/"}, "staging": "s3://work/staging/${ExportName}/", '
            '"datalake": "s3://work/datalake/${ExportName}/"}')


def replay(endpoint, *args):
    env = {"PATH": os.environ.get("PATH", ""), **CREDENTIALS}
    return subprocess.run([BIN, "--endpoint-url", endpoint, "replay", *args], capture_output=True,
                          text=True, env=env)


def test_replay_starts_each_kept_event_once_and_keeps_what_still_fails(tmp_path):
    with moto_server() as endpoint:
        sqs = boto3.client("sqs", endpoint_url=endpoint, **CLIENT)
        sfn = boto3.client("stepfunctions", endpoint_url=endpoint, **CLIENT)
        sm = sfn.create_state_machine(
            name="dbsnaplake", definition=(ROOT / "statemachine/dbsnaplake.asl.json").read_text(),
            roleArn="arn:aws:iam::123456789012:role/sfn")["stateMachineArn"]
        queue = sqs.create_queue(QueueName="failed-events")["QueueUrl"]
        rds = (FIXTURES / "rds-export-info.json").read_text()
        ddb = json.loads((FIXTURES / "dynamodb-manifest-summary.json").read_text())
        # EventBridge's dead letter is the event; Lambda's on-failure record wraps it.
        sqs.send_message(QueueUrl=queue, MessageBody=rds)
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({
            "version": "1.0", "requestContext": {"condition": "RetriesExhausted"},
            "requestPayload": ddb, "responsePayload": {"errorType": "dbsnaplake.Transient"}}))
        sqs.send_message(QueueUrl=queue, MessageBody="{not json")
        template = tmp_path / "template.json"
        template.write_text(TEMPLATE)
        args = ["--queue-url", queue, "--state-machine-arn", sm, "--job-template", str(template)]

        out = replay(endpoint, *args)
        assert out.returncode == 1, out.stdout + out.stderr
        assert out.stdout.count(": started arn:aws:states:") == 2, out.stdout
        assert "kept in the queue: the message is not JSON" in out.stdout, out.stdout
        assert "1 of 3 messages could not be started" in out.stderr, out.stderr
        execs = sfn.list_executions(stateMachineArn=sm)["executions"]
        assert len(execs) == 2
        inputs = [json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in execs]
        sources = sorted(next(iter(i["source"])) for i in inputs)
        assert sources == ["dynamodb_export", "rds_export"]

        # The started ones are gone; the bad one is still there, and stays after another replay.
        again = replay(endpoint, *args)
        assert again.returncode == 1 and "1 messages, 1 kept" in again.stdout, again.stdout
        assert "started" not in again.stdout.replace("could not be started", ""), again.stdout
        assert len(sfn.list_executions(stateMachineArn=sm)["executions"]) == 2

        # The same event replayed while its execution runs finds that execution (Step Functions
        # answers a start of the same name and input with it): no second run, message removed.
        first_arns = {line.split(" started ")[1] for line in out.stdout.splitlines() if " started " in line}
        sqs.send_message(QueueUrl=queue, MessageBody=rds)
        third = replay(endpoint, *args)
        (line,) = [line for line in third.stdout.splitlines() if "started" in line and "kept" not in line]
        assert line.split(" started ")[-1].split(": ")[-1] in first_arns, third.stdout
        assert len(sfn.list_executions(stateMachineArn=sm)["executions"]) == 2
        assert "2 messages, 1 kept" in third.stdout
        assert "1 messages, 1 kept" in replay(endpoint, *args).stdout
