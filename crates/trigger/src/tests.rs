//! The trigger against moto's Step Functions API on loopback.

use super::*;

const TEMPLATE: &str = r#"{"source": {"${ExportKind}": "${ExportUri}/"},
    "staging": "s3://work/staging/${ExportName}", "datalake": "s3://work/lake/${ExportName}"}"#;

fn event(fixture: &str) -> Event {
    serde_json::from_str(fixture).unwrap()
}

/// A Step Functions client of `endpoint` that makes one attempt per call.
async fn client_at(endpoint: String) -> Client {
    use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    Client::new(&conf)
}

/// Against moto's Step Functions API on loopback: a duplicate event starts nothing.
#[tokio::test]
async fn a_duplicate_event_starts_one_execution() {
    use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
    let moto = dbsnaplake_testing::Moto::start();
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .region(Region::new("us-east-1"))
        .endpoint_url(&moto.endpoint)
        .load()
        .await;
    let client = Client::new(&conf);
    let sm = client
        .create_state_machine()
        .name("dbsnaplake")
        .definition(include_str!("../../../statemachine/dbsnaplake.asl.json"))
        .role_arn("arn:aws:iam::123456789012:role/dbsnaplake")
        .send()
        .await
        .unwrap();
    let config = Config {
        state_machine_arn: sm.state_machine_arn().to_string(),
        job_template: TEMPLATE.to_string(),
    };
    let rds = include_str!("../../lambda-common/src/fixtures/rds-export-info.json");
    let first = handler(&client, &config, event(rds)).await.unwrap();
    assert!(first.started, "{first:?}");
    let again = handler(&client, &config, event(rds)).await.unwrap();
    assert_eq!(again.execution_name, first.execution_name);
    assert_eq!(
        again.execution_arn, first.execution_arn,
        "the same execution, not a second one"
    );
    let ddb = handler(
        &client,
        &config,
        event(include_str!(
            "../../lambda-common/src/fixtures/dynamodb-manifest-summary.json"
        )),
    )
    .await
    .unwrap();
    assert!(ddb.started);
    let listed = client
        .list_executions()
        .state_machine_arn(sm.state_machine_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(listed.executions().len(), 2);
    let started = client
        .describe_execution()
        .execution_arn(format!(
            "{}:{}",
            sm.state_machine_arn()
                .replace(":stateMachine:", ":execution:"),
            first.execution_name.unwrap()
        ))
        .send()
        .await
        .unwrap();
    let input: serde_json::Value = serde_json::from_str(started.input().unwrap()).unwrap();
    assert_eq!(
        input["source"]["rds_export"],
        "s3://exports-bucket/rds/mydb-2026-11-20/"
    );
}

/// A StartExecution that fails is the handler's error, never swallowed:
/// a missing state machine is bad input, an endpoint that does not answer
/// is transient (EventBridge and Lambda retry it).
#[tokio::test]
async fn a_failed_start_is_an_error_a_retry_can_tell() {
    let moto = dbsnaplake_testing::Moto::start();
    let config = Config {
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:missing".into(),
        job_template: TEMPLATE.to_string(),
    };
    let rds = include_str!("../../lambda-common/src/fixtures/rds-export-info.json");
    let e = handler(&client_at(moto.endpoint.clone()).await, &config, event(rds))
        .await
        .unwrap_err();
    assert_eq!(e.name(), dbsnaplake_lambda_common::BAD_INPUT, "{}", e.0);
    assert!(
        e.0.to_string().contains("StartExecution on arn:aws:states"),
        "{}",
        e.0
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let e = handler(&client_at(endpoint).await, &config, event(rds))
        .await
        .unwrap_err();
    assert_eq!(e.name(), dbsnaplake_lambda_common::TRANSIENT, "{}", e.0);
}

/// A throttled StartExecution (Step Functions' `ThrottlingException`, from a
/// one-answer server on loopback) is a transient error, so that Lambda
/// retries the event and then keeps it in the failed events queue.
#[tokio::test]
async fn a_throttled_start_is_transient() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut request = [0u8; 65536];
            let _ = stream.read(&mut request).unwrap();
            let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
            write!(
                stream,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: r1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
        }
    });
    let config = Config {
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:sm".into(),
        job_template: TEMPLATE.to_string(),
    };
    let rds = include_str!("../../lambda-common/src/fixtures/rds-export-info.json");
    let e = handler(&client_at(endpoint).await, &config, event(rds))
        .await
        .unwrap_err();
    assert_eq!(e.name(), dbsnaplake_lambda_common::TRANSIENT, "{}", e.0);
    assert!(e.0.to_string().contains("Rate exceeded"), "{}", e.0);
}
