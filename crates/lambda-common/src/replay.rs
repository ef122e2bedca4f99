//! Replays the failed events queue: every export event that could not start
//! its conversion (kept there by EventBridge's dead-letter config or by the
//! trigger's on-failure destination) is turned into its job again and
//! started, as the trigger would have; a message is deleted once its
//! execution exists.

use std::collections::BTreeSet;

use aws_sdk_sfn::error::ProvideErrorMetadata;
use dbsnaplake_core::Error;
use serde_json::Value;

use crate::event::{Event, job_for};
use crate::executions::{self, Execution};

/// What one message of the queue became.
#[derive(Debug)]
pub enum Outcome {
    /// Its execution was started now, or had been already; the message is deleted.
    Started(Execution),
    /// Not an export-complete marker: nothing to start; the message is deleted.
    Ignored,
    /// It could not be started; the message stays in the queue.
    Failed(String),
}

/// The event a queued message carries: the body itself (an EventBridge
/// dead letter) or its `requestPayload` (a Lambda on-failure record).
pub fn event_of(body: &str) -> Result<Event, String> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| format!("the message is not JSON: {e}"))?;
    let event = match value.get("requestPayload") {
        Some(payload) => payload.clone(),
        None => value,
    };
    serde_json::from_value(event).map_err(|e| format!("the message is no EventBridge event: {e}"))
}

/// Replays every message of `queue_url` once (messages received again in
/// the same call are not retried): starts each message's job from
/// `template` on `state_machine_arn`, deletes the messages whose execution
/// exists, and makes the others visible again. Returns each message's id and
/// outcome.
pub async fn replay(
    sqs: &aws_sdk_sqs::Client,
    sfn: &aws_sdk_sfn::Client,
    queue_url: &str,
    state_machine_arn: &str,
    template: &str,
) -> Result<Vec<(String, Outcome)>, Error> {
    let service = |call: &str, e: &dyn ProvideErrorMetadata, text: String| Error::Service {
        call: format!("{call} on {queue_url}"),
        message: e.message().map_or(text, str::to_string),
        transient: e.code().is_none_or(|c| c.contains("Throttl")),
    };
    let mut seen = BTreeSet::new();
    let mut outcomes = Vec::new();
    let mut kept = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            // Long enough to start ten executions before another reader sees them.
            .visibility_timeout(120)
            .send()
            .await
            .map_err(|e| service("ReceiveMessage", &e, e.to_string()))?;
        let fresh: Vec<_> = got
            .messages()
            .iter()
            .filter(|m| seen.insert(m.message_id().unwrap_or_default().to_string()))
            .collect();
        if fresh.is_empty() {
            break;
        }
        for m in fresh {
            let id = m.message_id().unwrap_or_default().to_string();
            let outcome = match event_of(m.body().unwrap_or_default()) {
                Err(why) => Outcome::Failed(why),
                Ok(event) => match job_for(&event, template) {
                    Err(e) => Outcome::Failed(e.0.to_string()),
                    Ok(None) => Outcome::Ignored,
                    Ok(Some(job)) => match executions::start(sfn, state_machine_arn, &job).await {
                        Ok(e) => Outcome::Started(e),
                        Err(e) => Outcome::Failed(e.to_string()),
                    },
                },
            };
            let handle = m.receipt_handle().unwrap_or_default().to_string();
            if matches!(outcome, Outcome::Failed(_)) {
                kept.push(handle);
            } else {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(|e| service("DeleteMessage", &e, e.to_string()))?;
            }
            outcomes.push((id, outcome));
        }
    }
    // What still fails is visible again at once, for the next replay.
    for handle in kept {
        sqs.change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(handle)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|e| service("ChangeMessageVisibility", &e, e.to_string()))?;
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RDS: &str = include_str!("fixtures/rds-export-info.json");

    #[test]
    fn a_dead_letter_and_an_on_failure_record_carry_the_event() {
        assert!(event_of(RDS).is_ok());
        let record = format!(
            r#"{{"version": "1.0", "requestContext": {{"condition": "RetriesExhausted"}},
                "requestPayload": {RDS}, "responsePayload": {{"errorType": "dbsnaplake.Transient"}}}}"#
        );
        let (a, b) = (event_of(RDS).unwrap(), event_of(&record).unwrap());
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert!(event_of("not json").unwrap_err().contains("not JSON"));
        assert!(
            event_of(r#"{"hello": 1}"#)
                .unwrap_err()
                .contains("no EventBridge event")
        );
    }
}
