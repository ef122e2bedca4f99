use std::collections::BTreeSet;

use serde_json::Value;

const ASL: &str = include_str!("../../statemachine/dbsnaplake.asl.json");
const TEMPLATE: &str = include_str!("../../infra/template.yaml");

fn walk<'a>(v: &'a Value, out: &mut Vec<(&'a str, &'a Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                out.push((k.as_str(), x));
                walk(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
        _ => {}
    }
}

fn asl() -> Value {
    serde_json::from_str(ASL).unwrap()
}

#[test]
fn every_error_name_is_one_the_functions_emit_or_the_service_raises() {
    let v = asl();
    let mut pairs = Vec::new();
    walk(&v, &mut pairs);
    let names: BTreeSet<&str> = pairs
        .iter()
        .filter(|(k, _)| *k == "ErrorEquals")
        .flat_map(|(_, x)| x.as_array().unwrap().iter().map(|n| n.as_str().unwrap()))
        .collect();
    assert!(
        names.contains("dbsnaplake.Transient"),
        "transient errors are retried"
    );
    for n in &names {
        let ok = dbsnaplake_lambda_common::ERROR_NAMES.contains(n)
            || n.starts_with("Lambda.")
            || n.starts_with("States.");
        assert!(
            ok,
            "{n} is neither emitted by lambda-common nor a service error"
        );
    }
    assert!(
        !names.contains("dbsnaplake.BadInput"),
        "bad input is never retried"
    );
}

#[test]
fn every_placeholder_is_substituted_by_the_template_and_tasks_invoke_lambdas() {
    let mut placeholders = BTreeSet::new();
    let mut rest = ASL;
    while let Some(i) = rest.find("${") {
        let end = rest[i..].find('}').unwrap();
        placeholders.insert(&rest[i + 2..i + end]);
        rest = &rest[i + end..];
    }
    assert_eq!(placeholders.len(), 5, "{placeholders:?}");
    for p in &placeholders {
        assert!(
            TEMPLATE.contains(&format!("        {p}: !GetAtt ")),
            "{p} is not in DefinitionSubstitutions"
        );
    }
    let v = asl();
    let mut pairs = Vec::new();
    walk(&v, &mut pairs);
    let resources: BTreeSet<&str> = pairs
        .iter()
        .filter(|(k, _)| *k == "Resource")
        .map(|(_, x)| x.as_str().unwrap())
        .collect();
    let expected = BTreeSet::from([
        "arn:aws:states:::lambda:invoke",
        "arn:aws:states:::s3:getObject",
    ]);
    assert_eq!(resources, expected);
    for map in ["Stage", "Compact"] {
        let m = &v["States"][map];
        assert_eq!(
            m["ItemReader"]["Resource"], "arn:aws:states:::s3:getObject",
            "{map} reads items from S3"
        );
        assert!(
            m.get("ItemsPath").is_none(),
            "{map} must not take items from the payload"
        );
        assert_eq!(m["ItemProcessor"]["ProcessorConfig"]["Mode"], "DISTRIBUTED");
        assert!(
            m["MaxConcurrencyPath"].is_string(),
            "{map} concurrency is set per execution"
        );
        assert_eq!(
            m["ResultPath"],
            Value::Null,
            "{map} results never grow the payload"
        );
    }
}

/// Every function of the template is built by a Makefile target (SAM's
/// `makefile` build method) that copies the bootstrap of a function crate.
#[test]
fn every_function_is_built_from_a_crate_of_the_workspace() {
    let makefile = include_str!("../../Makefile");
    let functions: Vec<&str> = TEMPLATE
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.trim().strip_suffix(':'))
        .filter(|name| name.ends_with("Function") && *name != "Function")
        .collect();
    assert_eq!(functions.len(), 6, "{functions:?}");
    assert_eq!(TEMPLATE.matches("BuildMethod: makefile").count(), 6);
    for f in functions {
        let krate = makefile
            .lines()
            .find_map(|l| l.strip_prefix(&format!("build-{f}: FUNCTION = ")))
            .unwrap_or_else(|| panic!("no Makefile target build-{f}"));
        let manifest = std::fs::read_to_string(format!(
            "{}/../crates/{krate}/Cargo.toml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap_or_else(|_| panic!("no crate for {f}"));
        assert!(
            manifest.contains(&format!("name = \"dbsnaplake-{krate}\"")),
            "{f}"
        );
    }
}

#[test]
fn iam_policies_stay_scoped() {
    for (i, line) in TEMPLATE.lines().enumerate() {
        let l = line.trim();
        for bad in [
            "Action: \"*\"",
            "Action: '*'",
            "Resource: \"*\"",
            "Resource: '*'",
            "s3:*",
            "states:*",
            "lambda:*",
            "logs:*",
        ] {
            assert!(!l.contains(bad), "line {}: {l}", i + 1);
        }
        if l.contains("arn:${AWS::Partition}:s3:::") && l.contains("/") {
            assert!(
                l.contains("Prefix}*"),
                "line {}: an object resource must be scoped to a prefix: {l}",
                i + 1
            );
        }
    }
}
