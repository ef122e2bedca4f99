//! The `dbsnaplake` binary as a user runs it: exit codes, messages, and the
//! step-by-step subcommands giving the same lake as `run`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dbsnaplake"))
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn write_job(dir: &Path, name: &str, extra: &str) -> std::path::PathBuf {
    let d = dir.display();
    let job = format!(
        r#"{{"source": {{"manifest": "{d}/snap/manifests/manifest-summary.json"}},
            "staging": "{d}/{name}-staging", "datalake": "{d}/{name}-lake",
            "tables": {{"*": {{"partition_by": [{{"name": "year", "from": "order_time", "fn": "year"}}],
                               "sort_by": [{{"column": "order_time", "descending": true}}]}}}},
            "group_size": 300000, "file_size": 500000{extra}}}"#
    );
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, job).unwrap();
    path
}

fn generate(dir: &Path) {
    let out = dir.join("snap");
    ok(bin()
        .args([
            "generate",
            "--out",
            out.to_str().unwrap(),
            "--rows",
            "20000",
            "--files",
            "4",
        ])
        .output()
        .unwrap());
}

#[test]
fn help_lists_the_steps_and_exit_codes() {
    let help = ok(bin().arg("--help").output().unwrap());
    for word in [
        "run",
        "plan",
        "stage",
        "plan-partitions",
        "compact",
        "validate",
        "generate",
        "EXIT STATUS",
    ] {
        assert!(help.contains(word), "{word} missing from --help:\n{help}");
    }
}

#[test]
fn run_prints_the_summary_and_steps_give_the_same_lake() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let job = write_job(dir.path(), "all", "");
    let summary = ok(bin().args(["run", "--job"]).arg(&job).output().unwrap());
    assert!(summary.contains("validation: OK"), "{summary}");
    assert!(
        summary
            .lines()
            .any(|l| l.starts_with("total") && l.contains("20000")),
        "{summary}"
    );
    // The untitled table of the snapshot is shown as its source, not `*`.
    let manifest = format!(
        "{}/snap/manifests/manifest-summary.json",
        dir.path().display()
    );
    assert!(
        summary.lines().nth(1).unwrap().starts_with(&manifest),
        "{summary}"
    );
    assert!(dir.path().join("all-lake/_SUCCESS").exists());
    let lake = tree(&dir.path().join("all-lake"));
    std::fs::remove_dir_all(dir.path().join("all-lake")).unwrap();
    std::fs::remove_dir_all(dir.path().join("all-staging")).unwrap();

    // The same job, one step at a time, as the Lambdas would run it.
    let job_arg = job.to_str().unwrap();
    let plan: serde_json::Value = serde_json::from_str(&ok(bin()
        .args(["plan", "--job", job_arg])
        .output()
        .unwrap()))
    .unwrap();
    let groups: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(plan["groups"].as_str().unwrap()).unwrap()).unwrap();
    assert!(groups.len() > 1);
    // A group named by a path relative to the working directory (as a user
    // types it) is the job's group all the same.
    let relative = |g: &serde_json::Value| {
        Path::new(g["group"].as_str().unwrap())
            .strip_prefix(dir.path())
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    for g in &groups {
        ok(bin()
            .current_dir(dir.path())
            .args(["stage", "--job", job_arg, "--group", &relative(g)])
            .output()
            .unwrap());
    }
    let parts: serde_json::Value = serde_json::from_str(&ok(bin()
        .args(["plan-partitions", "--job", job_arg])
        .output()
        .unwrap()))
    .unwrap();
    let groups: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(parts["groups"].as_str().unwrap()).unwrap()).unwrap();
    for g in &groups {
        ok(bin()
            .current_dir(dir.path())
            .args(["compact", "--job", job_arg, "--group"])
            .arg(format!("./{}", relative(g)))
            .output()
            .unwrap());
    }
    ok(bin().args(["validate", "--job", job_arg]).output().unwrap());
    let steps = tree(&dir.path().join("all-lake"));
    assert!(
        steps == lake,
        "different lakes: {:?} vs {:?}",
        steps.keys().collect::<Vec<_>>(),
        lake.keys().collect::<Vec<_>>()
    );
}

#[test]
fn a_wrong_job_field_exits_1_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let job = write_job(dir.path(), "bad", r#", "file_sise": 5"#);
    let out = bin().args(["run", "--job"]).arg(&job).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid job: file_sise: unknown field `file_sise`"),
        "{err}"
    );
    assert!(err.contains("bad.json"), "names the job file: {err}");
    assert!(!dir.path().join("bad-lake/_SUCCESS").exists());
}

#[test]
fn a_count_of_zero_is_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("snap");
    let out = out.to_str().unwrap();
    for (flag, args) in [
        (
            "--workers",
            vec!["run", "--job", "job.json", "--workers", "0"],
        ),
        (
            "--files",
            vec!["generate", "--out", out, "--rows", "10", "--files", "0"],
        ),
        (
            "--row-group-rows",
            vec![
                "generate",
                "--out",
                out,
                "--rows",
                "10",
                "--row-group-rows",
                "0",
            ],
        ),
    ] {
        let o = bin().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flag}: {err}");
        assert!(
            err.contains(&format!("'{flag} <")) && err.contains("must be at least 1"),
            "{flag}: {err}"
        );
    }
    assert!(!dir.path().join("snap").exists(), "nothing generated");
}

#[test]
fn a_failed_validation_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let job = write_job(dir.path(), "v", "");
    ok(bin().args(["run", "--job"]).arg(&job).output().unwrap());
    let lake = dir.path().join("v-lake");
    let (rel, _) = tree(&lake)
        .into_iter()
        .find(|(k, _)| k.ends_with(".parquet"))
        .unwrap();
    std::fs::remove_file(lake.join(&rel)).unwrap();
    let out = bin()
        .args(["validate", "--job"])
        .arg(&job)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("validation failed"), "{err}");
    assert!(!lake.join("_SUCCESS").exists());
}
