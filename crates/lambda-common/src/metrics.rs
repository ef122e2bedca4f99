//! Counts of each invocation as CloudWatch Embedded Metric Format: one JSON
//! line on stdout that CloudWatch Logs turns into metrics, with no API call
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>).

use serde_json::{Map, Value, json};

/// The CloudWatch namespace of every dbsnaplake metric.
pub const NAMESPACE: &str = "dbsnaplake";

/// The output fields reported, as (field, metric name, unit).
const FIELDS: [(&str, &str, &str); 3] = [
    ("n_record", "Records", "Count"),
    ("n_file", "Files", "Count"),
    ("size", "Bytes", "Bytes"),
];

/// The EMF line of one invocation of `step` (dimension `Step`) that took
/// `seconds` and returned `output`: its records, files and bytes where the
/// output has them, its seconds, and whether it was a rerun (`Skipped`).
pub fn emf_line(step: &str, output: &Value, seconds: f64, timestamp_ms: u128) -> String {
    let mut metrics = vec![json!({"Name": "Seconds", "Unit": "Seconds"})];
    let mut line = Map::new();
    line.insert("Step".into(), step.into());
    line.insert("Seconds".into(), json!((seconds * 1000.0).round() / 1000.0));
    for (field, name, unit) in FIELDS {
        if let Some(v) = output.get(field).and_then(Value::as_u64) {
            metrics.push(json!({"Name": name, "Unit": unit}));
            line.insert(name.into(), v.into());
        }
    }
    if let Some(skipped) = output.get("skipped").and_then(Value::as_bool) {
        metrics.push(json!({"Name": "Skipped", "Unit": "Count"}));
        line.insert("Skipped".into(), u8::from(skipped).into());
    }
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms as u64,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Step"]],
                "Metrics": metrics,
            }],
        }),
    );
    Value::Object(line).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_output_becomes_an_emf_line() {
        let out = json!({"n": 3, "manifest": "s3://b/m.json", "n_file": 2,
                         "n_record": 1000, "size": 4096, "skipped": false});
        let line: Value =
            serde_json::from_str(&emf_line("staging-worker", &out, 1.23456, 42)).unwrap();
        assert_eq!(line["Step"], "staging-worker");
        assert_eq!(
            (
                &line["Records"],
                &line["Files"],
                &line["Bytes"],
                &line["Skipped"]
            ),
            (&json!(1000), &json!(2), &json!(4096), &json!(0))
        );
        assert_eq!(line["Seconds"], 1.235);
        let cw = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(
            (&cw["Namespace"], &cw["Dimensions"]),
            (&json!("dbsnaplake"), &json!([["Step"]]))
        );
        // Every metric named is a member of the line, as the format requires.
        for m in cw["Metrics"].as_array().unwrap() {
            assert!(line.get(m["Name"].as_str().unwrap()).is_some(), "{m}");
        }
        assert_eq!(line["_aws"]["Timestamp"], 42);
    }

    #[test]
    fn an_output_without_counts_reports_its_seconds() {
        let line: Value =
            serde_json::from_str(&emf_line("planner", &json!({"groups": "x"}), 0.5, 1)).unwrap();
        let names: Vec<&str> = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Seconds"]);
    }
}
