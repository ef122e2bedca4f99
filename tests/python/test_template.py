"""The SAM template's operations resources, read as CloudFormation reads them (cfn-lint's
decoder, which knows !Ref, !GetAtt, !If): no export event is lost and no failure goes unseen."""

from pathlib import Path

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
T = cfn_yaml.load(str(ROOT / "infra/template.yaml"))
R = T["Resources"]


def getatt(name, attr):
    return {"Fn::GetAtt": [name, attr]}


def test_export_events_retry_then_wait_in_the_failed_events_queue():
    trigger = R["TriggerFunction"]["Properties"]
    queue = getatt("FailedEventsQueue", "Arn")
    for name in ("ExportComplete", "Schedule"):
        props = trigger["Events"][name]["Properties"]
        assert props["DeadLetterConfig"]["Arn"] == queue, name
        assert props["RetryPolicy"]["MaximumRetryAttempts"] > 0, name
    on_failure = trigger["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    assert (on_failure["Type"], on_failure["Destination"]) == ("SQS", queue)
    # The function may send there, and so may EventBridge's rules of this stack.
    statements = [s for p in trigger["Policies"] for s in p["Statement"]]
    assert {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue} in statements
    (allow,) = R["FailedEventsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert "aws:SourceArn" in allow["Condition"]["ArnLike"]
    # Kept for the longest SQS allows: 14 days to notice and replay.
    assert R["FailedEventsQueue"]["Properties"]["MessageRetentionPeriod"] == 1209600


def test_failed_executions_and_waiting_events_are_published():
    rule = R["ExecutionFailedRule"]["Properties"]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.states"]
    assert sorted(pattern["detail"]["status"]) == ["ABORTED", "FAILED", "TIMED_OUT"]
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": "StateMachine"}]
    assert [t["Arn"] for t in rule["Targets"]] == [{"Ref": "AlertsTopic"}]

    alarm = R["FailedEventsAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": getatt("FailedEventsQueue", "QueueName")}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}]

    publishers = {s["Principal"]["Service"]: s["Condition"]["ArnEquals"]["aws:SourceArn"]
                  for s in R["AlertsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]}
    assert publishers == {"events.amazonaws.com": getatt("ExecutionFailedRule", "Arn"),
                          "cloudwatch.amazonaws.com": getatt("FailedEventsAlarm", "Arn")}
    sub = R["AlertsSubscription"]
    assert sub["Condition"] == "HasEmail"
    assert sub["Properties"]["Endpoint"] == {"Ref": "NotificationEmail"}
    assert T["Parameters"]["NotificationEmail"]["Default"] == ""


def test_the_kms_key_and_reserved_concurrency_are_optional_and_applied():
    kms = {"Fn::If": ["HasKms", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]}
    assert T["Globals"]["Function"]["KmsKeyArn"] == kms
    logs = [r for r in R.values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert len(logs) == 6 and all(r["Properties"]["KmsKeyId"] == kms for r in logs)
    assert R["FailedEventsQueue"]["Properties"]["KmsMasterKeyId"] == kms
    assert R["AlertsTopic"]["Properties"]["KmsMasterKeyId"] == kms
    for worker in ("StagingWorkerFunction", "CompactionWorkerFunction"):
        reserved = R[worker]["Properties"]["ReservedConcurrentExecutions"]
        assert reserved["Fn::If"][0] == "HasWorkerReserve", worker


def test_every_checkov_skip_says_why():
    skipped = 0
    for name, r in R.items():
        for skip in r.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert skip["id"].startswith("CKV_") and len(skip["comment"]) > 30, (name, skip)
            skipped += 1
    assert skipped == 13
