//! `dbsnaplake`: turn a database snapshot export into a hive-partitioned,
//! compacted, sorted and validated Parquet data lake.
//!
//! This binary is only flags and glue: every step is a function of
//! `dbsnaplake-core`, the same one the Lambda functions call.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use dbsnaplake_core::config::S3Settings;
use dbsnaplake_core::generate::{self, Spec};
use dbsnaplake_core::steps::Meter;
use dbsnaplake_core::steps::local::{Phase, Progress, Totals, run_all};
use dbsnaplake_core::steps::{self, validate::Validation};
use dbsnaplake_core::storage::{S3Store, StorageRef, Stores, is_s3, split_s3_uri};
use dbsnaplake_core::{ErrorKind, Job, Run};
use dbsnaplake_lambda_common::{executions, replay};
use indicatif::{ProgressBar, ProgressStyle};

const EXIT_STATUS: &str = "\
EXIT STATUS:
    0  success (for `run` and `validate`: the lake is valid and _SUCCESS is written)
    1  bad input: the job, a manifest or a data file is wrong (the message names it)
    2  usage error
    3  the lake failed validation (counts differ; see validate-datalake-result.json)
    4  a transient failure (throttling, timeout, reset): running again may succeed";

#[derive(Parser)]
#[command(
    name = "dbsnaplake",
    version,
    about = "Turn a database snapshot export into a partitioned, compacted, validated Parquet data lake",
    long_about = "Turn a database snapshot export into a hive-partitioned, compacted (~128 MB), sorted \
Parquet data lake, and validate that every record arrived.\n\n`run` does every step locally with a pool \
of workers. The other commands each do exactly what one Lambda invocation does, so a run can be \
driven step by step.",
    after_help = EXIT_STATUS
)]
struct Cli {
    /// More log output on stderr (-v: info, -vv: debug of dbsnaplake itself). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Another S3 endpoint (MinIO, a test server); wins over AWS_ENDPOINT_URL and the job's s3.endpoint_url.
    /// Credentials and region come from the usual AWS chain (AWS_PROFILE, AWS_REGION, …).
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "DBSNAPLAKE_ENDPOINT_URL"
    )]
    endpoint_url: Option<String>,
    /// Path-style S3 addressing (endpoint/bucket/key), which most non-AWS servers need.
    #[arg(long, global = true)]
    path_style: bool,
    #[command(subcommand)]
    command: Command,
}

/// What `register` did, a line each.
fn print_registered(r: &dbsnaplake_core::catalog::Registered) {
    println!("{}", r.catalog);
    match (r.tables_written.as_slice(), r.iceberg) {
        ([], false) => println!("  tables already registered as they are: nothing written"),
        ([], true) => println!("  this snapshot's versions are committed already: nothing written"),
        (t, false) => println!("  tables written: {}", t.join(", ")),
        (t, true) => println!("  tables given this snapshot's version: {}", t.join(", ")),
    }
    if r.iceberg {
        return;
    }
    println!(
        "  partitions added: {}, removed (older snapshot): {}",
        r.partitions_added, r.partitions_removed
    );
}

#[derive(clap::Args)]
struct JobArg {
    /// The job file (JSON): source, staging, datalake, tables, sizes, output.
    #[arg(long, value_name = "FILE")]
    job: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run every step locally: import, plan, stage, plan partitions, compact, validate.
    Run {
        #[command(flatten)]
        job: JobArg,
        /// Workers running at once (default: the number of cores).
        #[arg(long, value_parser = at_least_one)]
        workers: Option<usize>,
        /// Print the validation result as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Replace a finished lake of another snapshot in the datalake folder
        /// (deleting it first) instead of refusing to run.
        #[arg(long)]
        overwrite: bool,
    },
    /// Steps 0 + 1.1: write the snapshot manifest (for a `files` source) and plan the snapshot file groups.
    Plan {
        #[command(flatten)]
        job: JobArg,
    },
    /// Step 1.2: stage one snapshot file group into partition folders.
    Stage {
        #[command(flatten)]
        job: JobArg,
        /// URI of the group's manifest-summary-<n>.json.
        #[arg(long, value_name = "URI")]
        group: String,
    },
    /// Step 2.1: plan the partition file groups from every staging file group.
    PlanPartitions {
        #[command(flatten)]
        job: JobArg,
    },
    /// Step 2.2: compact one partition file group into lake files.
    Compact {
        #[command(flatten)]
        job: JobArg,
        /// URI of the group's manifest-summary-<n>.json.
        #[arg(long, value_name = "URI")]
        group: String,
    },
    /// Step 3: validate the lake against the snapshot; write _SUCCESS when it matches.
    Validate {
        #[command(flatten)]
        job: JobArg,
    },
    /// Step 4: register the validated lake in the job's catalog: Glue tables, partitions and history, or (Iceberg output) one new version of each Iceberg table.
    Register {
        #[command(flatten)]
        job: JobArg,
    },
    /// Delete everything under the job's staging folder (what a finished or failed run left there).
    Clean {
        #[command(flatten)]
        job: JobArg,
    },
    /// Start a Step Functions execution of the job (idempotent: the name derives from the snapshot).
    Start {
        /// ARN of the deployed state machine (the stack's StateMachineArn output).
        #[arg(long, value_name = "ARN")]
        state_machine_arn: String,
        #[command(flatten)]
        job: JobArg,
    },
    /// Start the conversions of the export events kept in the stack's failed events queue
    /// (its FailedEventsQueueUrl output), as the trigger would have; each message is deleted
    /// once its execution exists, and one that still fails stays, with its reason printed.
    Replay {
        /// URL of the queue.
        #[arg(long, value_name = "URL")]
        queue_url: String,
        /// ARN of the deployed state machine (the stack's StateMachineArn output).
        #[arg(long, value_name = "ARN")]
        state_machine_arn: String,
        /// A file holding the stack's JobTemplate (the trigger's DBSNAPLAKE_JOB_TEMPLATE).
        #[arg(long, value_name = "FILE")]
        job_template: PathBuf,
    },
    /// Print the JSON Schema of the job file, for editors (docs/job.md#in-an-editor).
    Schema,
    /// Show an execution's state, and the item counts of its Map runs.
    Status {
        /// The execution ARN `start` printed.
        execution_arn: String,
    },
    /// Write a job for a snapshot: looks at SOURCE (an RDS/Aurora export folder, a DynamoDB
    /// export, a folder with a snapshot manifest, a folder of Parquet/NDJSON/CSV files; local or
    /// s3://), reads its footers or records, and proposes each table's partitions and sort key,
    /// with staging and datalake folders in the seed's layout. Prints what it chose and why.
    Init {
        /// The export or folder.
        source: String,
        /// Folder that holds the staging/ and datalake/ trees (default: s3://<the source's
        /// bucket>/dbsnaplake for an S3 source, ./dbsnaplake otherwise).
        #[arg(long, value_name = "URI")]
        datalake: Option<String>,
        /// Where to write the job.
        #[arg(long, value_name = "FILE", default_value = "job.json")]
        out: PathBuf,
        /// Replace the --out file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Write a deterministic synthetic snapshot (Parquet files + snapshot manifest).
    Generate {
        /// Folder to write into (data/ and manifests/ go below it).
        #[arg(long, value_name = "DIR")]
        out: String,
        /// Rows per table.
        #[arg(long, conflicts_with = "size", required_unless_present = "size")]
        rows: Option<u64>,
        /// Approximate bytes per table instead of --rows (e.g. 50MB, 1GiB).
        #[arg(long, value_parser = parse_size)]
        size: Option<u64>,
        /// Files per table.
        #[arg(long, default_value_t = 10, value_parser = at_least_one)]
        files: usize,
        /// A table name (database/schema/table); repeat for several. None: a snapshot without tables.
        #[arg(long = "table", value_name = "NAME")]
        tables: Vec<String>,
        /// Seed of the generator.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Months of order_time.
        #[arg(long, default_value_t = 36)]
        months: u32,
        /// order_time grows with the row number, as in a table exported in primary-key order
        /// whose keys follow insertion time (default: random times)
        #[arg(long)]
        time_ordered: bool,
        /// Most rows in one Parquet row group.
        #[arg(long, default_value_t = generate::ROW_GROUP_ROWS, value_parser = at_least_one)]
        row_group_rows: usize,
    },
}

/// Generated rows take about this many bytes of snappy Parquet.
const BYTES_PER_ROW: u64 = 74;

/// A count of at least 1.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 50MB or 1GiB"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "kib" | "k" => 1024.0,
        "mib" | "m" => 1024.0 * 1024.0,
        "gib" | "g" => 1024.0 * 1024.0 * 1024.0,
        u => {
            return Err(format!(
                "unknown unit {u:?} in {s:?}; use B, KB, MB, GB, KiB, MiB or GiB"
            ));
        }
    };
    Ok((num * mult) as u64)
}

/// The S3 flags every command takes.
struct S3Flags {
    endpoint_url: Option<String>,
    path_style: bool,
}

fn load_job(arg: &JobArg, s3: &S3Flags) -> Result<Job> {
    let text = std::fs::read_to_string(&arg.job)
        .with_context(|| format!("cannot read the job file {}", arg.job.display()))?;
    let mut job = Job::from_json(&text).with_context(|| format!("in {}", arg.job.display()))?;
    job.s3.path_style |= s3.path_style;
    Ok(job)
}

async fn run_of(arg: &JobArg, s3: &S3Flags) -> Result<Run> {
    let job = load_job(arg, s3)?;
    let stores = Stores::for_job(&job, s3.endpoint_url.as_deref()).await;
    Ok(Run::new(job, Arc::new(stores)))
}

fn print_json<T: serde::Serialize>(v: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("plain data serializes")
    );
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    let s3 = S3Flags {
        endpoint_url: cli.endpoint_url,
        path_style: cli.path_style,
    };
    match rt.block_on(dispatch(cli.command, &s3)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The causes, outermost first, each said once (a core error
            // already quotes the library error beneath it).
            let mut message = String::new();
            for cause in e.chain().map(|c| c.to_string()) {
                if !message.contains(&cause) {
                    if !message.is_empty() {
                        message.push_str(": ");
                    }
                    message.push_str(&cause);
                }
            }
            eprintln!("error: {message}");
            let kind = e
                .chain()
                .find_map(|c| c.downcast_ref::<dbsnaplake_core::Error>())
                .map(|c| c.kind());
            ExitCode::from(match kind {
                Some(ErrorKind::Validation) => 3,
                Some(ErrorKind::Transient) => 4,
                _ => 1,
            })
        }
    }
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    // Debug output is ours only: the SDK's and HTTP stack's debug logs would
    // show request details (never credentials, but headers and keys) that a
    // user pasting a log into an issue did not mean to share. RUST_LOG still
    // overrides everything.
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "info,dbsnaplake=debug,dbsnaplake_core=debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn dispatch(command: Command, s3: &S3Flags) -> Result<()> {
    match command {
        Command::Run {
            job,
            workers,
            json,
            overwrite,
        } => {
            let mut run = run_of(&job, s3).await?;
            run.job.overwrite |= overwrite;
            let workers = workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
            run.job.concurrency.get_or_insert(workers);
            let started = Instant::now();
            let result = run_all(&run, workers, &Reporter::new(run.meter.clone())).await?;
            if let Some(c) = &run.job.catalog
                && !json
            {
                println!("registered in {}", c.describe(run.job.output.format));
            }
            if json {
                print_json(&result);
            } else {
                print_summary(
                    &result,
                    started.elapsed().as_secs_f64(),
                    run.job.source.uri(),
                );
            }
            Ok(())
        }
        Command::Plan { job } => {
            let run = run_of(&job, s3).await?;
            steps::import::import(&run).await?;
            print_json(&steps::plan_snapshot::plan_snapshot(&run).await?);
            Ok(())
        }
        Command::Stage { job, group } => {
            let run = run_of(&job, s3).await?;
            print_json(&steps::stage::stage(&run, &group).await?);
            Ok(())
        }
        Command::PlanPartitions { job } => {
            let run = run_of(&job, s3).await?;
            print_json(&steps::plan_partitions::plan_partitions(&run).await?);
            Ok(())
        }
        Command::Compact { job, group } => {
            let run = run_of(&job, s3).await?;
            print_json(&steps::compact::compact(&run, &group).await?);
            Ok(())
        }
        Command::Validate { job } => {
            let run = run_of(&job, s3).await?;
            let result = steps::validate::validate(&run).await?;
            print_summary(&result, 0.0, run.job.source.uri());
            Ok(())
        }
        Command::Register { job } => {
            let run = run_of(&job, s3).await?;
            match dbsnaplake_core::catalog::register(&run).await? {
                None => println!("the job names no catalog: nothing to register"),
                Some(r) => print_registered(&r),
            }
            Ok(())
        }
        Command::Clean { job } => {
            let run = run_of(&job, s3).await?;
            let n = steps::clean::clean(&run).await?;
            println!("deleted {n} objects under {}", run.job.staging);
            Ok(())
        }
        Command::Start {
            state_machine_arn,
            job,
        } => {
            let job = load_job(&job, s3)?;
            start(&sfn_client(s3).await, &state_machine_arn, &job).await
        }
        Command::Replay {
            queue_url,
            state_machine_arn,
            job_template,
        } => {
            let template = std::fs::read_to_string(&job_template).with_context(|| {
                format!("cannot read the job template {}", job_template.display())
            })?;
            let conf = aws_config_of(s3).await;
            let outcomes = replay::replay(
                &aws_sdk_sqs::Client::new(&conf),
                &aws_sdk_sfn::Client::new(&conf),
                &queue_url,
                &state_machine_arn,
                &template,
            )
            .await?;
            let mut failed = 0;
            for (id, outcome) in &outcomes {
                match outcome {
                    replay::Outcome::Started(e) if e.started => println!("{id}: started {}", e.arn),
                    replay::Outcome::Started(e) => println!("{id}: already started: {}", e.arn),
                    replay::Outcome::Ignored => println!("{id}: not an export marker, removed"),
                    replay::Outcome::Failed(why) => {
                        failed += 1;
                        println!("{id}: kept in the queue: {why}");
                    }
                }
            }
            println!("{} messages, {failed} kept", outcomes.len());
            if failed > 0 {
                bail!(
                    "{failed} of {} messages could not be started",
                    outcomes.len()
                );
            }
            Ok(())
        }
        Command::Init {
            source,
            datalake,
            out,
            force,
        } => {
            if out.exists() && !force {
                bail!(
                    "{} exists: choose another --out, or --force to replace it",
                    out.display()
                );
            }
            let absolute = |p: &str| -> Result<String> {
                let path = std::path::absolute(p).with_context(|| format!("{p}: no such path"))?;
                Ok(path.to_string_lossy().into_owned())
            };
            let source = if is_s3(&source) {
                source
            } else {
                absolute(&source)?
            };
            let root = match datalake {
                Some(d) if is_s3(&d) => d,
                Some(d) => absolute(&d)?,
                None if is_s3(&source) => {
                    let (bucket, _) = split_s3_uri(&source)?;
                    format!("s3://{bucket}/dbsnaplake")
                }
                None => absolute("dbsnaplake")?,
            };
            let scratch =
                std::env::temp_dir().join(format!("dbsnaplake-init-{}", std::process::id()));
            let settings = S3Settings {
                path_style: s3.path_style,
                ..Default::default()
            };
            let proposal = dbsnaplake_core::init::propose(
                &source,
                &root,
                &scratch,
                &settings,
                s3.endpoint_url.as_deref(),
            )
            .await?;
            let text = serde_json::to_string_pretty(&proposal.job)? + "\n";
            if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            let tmp = out.with_extension("json.tmp");
            std::fs::write(&tmp, text)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, &out)
                .with_context(|| format!("cannot write {}", out.display()))?;
            for note in &proposal.notes {
                println!("{note}");
            }
            println!(
                "wrote {}; run it with: dbsnaplake run --job {}",
                out.display(),
                out.display()
            );
            Ok(())
        }
        Command::Schema => {
            let schema = dbsnaplake_core::config::job_schema();
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(())
        }
        Command::Status { execution_arn } => status(&sfn_client(s3).await, &execution_arn).await,
        Command::Generate {
            out,
            rows,
            size,
            files,
            tables,
            seed,
            months,
            time_ordered,
            row_group_rows,
        } => {
            let rows = rows
                .unwrap_or_else(|| size.unwrap_or(0) / BYTES_PER_ROW)
                .max(1);
            let spec = Spec {
                seed,
                months,
                time_ordered,
                row_group_rows,
                tables,
                ..Spec::new(&out, rows, files)
            };
            let store: StorageRef = if is_s3(&out) {
                let settings = S3Settings {
                    path_style: s3.path_style,
                    ..Default::default()
                };
                let s3 = S3Store::from_env(&settings, s3.endpoint_url.as_deref()).await;
                Arc::new(Stores::with_s3(Arc::new(s3)))
            } else {
                Arc::new(Stores::local())
            };
            let (uri, summary) = generate::generate(&store, &spec).await?;
            println!(
                "wrote {} files, {} records, {} to {out}\nsnapshot manifest: {uri}",
                summary.details.n_file.unwrap_or(0),
                summary.n_record.unwrap_or(0),
                human(summary.size)
            );
            Ok(())
        }
    }
}

/// Progress of a local run on stderr: on a terminal, a bar of records with
/// their rate, the bytes, the groups done and an ETA, redrawn as the workers
/// count; otherwise a log line every [`LOG_EVERY`].
struct Reporter {
    meter: Meter,
    terminal: bool,
    phase: std::sync::Mutex<Option<PhaseReport>>,
}

/// How often a run not on a terminal logs its progress.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// The phase under way.
struct PhaseReport {
    name: &'static str,
    bar: ProgressBar,
    groups: usize,
    done: usize,
    totals: Totals,
    /// The meter when the phase started.
    base: (u64, u64),
    started: Instant,
    logged: Instant,
}

impl Reporter {
    fn new(meter: Meter) -> Self {
        Reporter {
            meter,
            terminal: std::io::stderr().is_terminal(),
            phase: Default::default(),
        }
    }

    /// Brings the bar (or the log) up to the meter; `force` logs now.
    fn update(&self, force: bool) {
        let mut guard = self.phase.lock().expect("not poisoned");
        let Some(p) = guard.as_mut() else { return };
        let (bytes, records) = self.meter.read();
        let (bytes, records) = (bytes - p.base.0, records - p.base.1);
        let verb = if p.name == "staging" {
            "read"
        } else {
            "written"
        };
        let message = format!("{} {verb} · groups {}/{}", human(bytes), p.done, p.groups);
        if self.terminal {
            p.bar.set_position(records);
            p.bar.set_message(message);
        } else if force || p.logged.elapsed() >= LOG_EVERY {
            p.logged = Instant::now();
            let secs = p.started.elapsed().as_secs_f64().max(1e-3);
            let rate = records as f64 / secs;
            let of = match p.totals.records {
                Some(total) if total > 0 => {
                    let eta = (total.saturating_sub(records) as f64 / rate.max(1.0)).round();
                    format!(
                        "/{total} records ({:.0}%), eta {eta} s",
                        100.0 * records as f64 / total as f64
                    )
                }
                _ => " records".to_string(),
            };
            eprintln!(
                "{}: {records}{of}, {message}, {:.0} records/s",
                p.name, rate
            );
        }
    }
}

impl Progress for Reporter {
    fn start(&self, phase: Phase, groups: usize, totals: Totals) {
        let name = match phase {
            Phase::Staging => "staging",
            Phase::Compacting => "compacting",
        };
        let bar = if self.terminal {
            let bar = ProgressBar::new(totals.records.unwrap_or(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>10} [{bar:30}] {human_pos}/{human_len} records {per_sec} · {msg} · eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(name);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        } else {
            ProgressBar::hidden()
        };
        *self.phase.lock().expect("not poisoned") = Some(PhaseReport {
            name,
            bar,
            groups,
            done: 0,
            totals,
            base: self.meter.read(),
            started: Instant::now(),
            logged: Instant::now(),
        });
    }
    fn tick(&self) {
        self.update(false);
    }
    fn advance(&self, _phase: Phase) {
        if let Some(p) = self.phase.lock().expect("not poisoned").as_mut() {
            p.done += 1;
        }
        self.update(false);
    }
    fn finish(&self, _phase: Phase) {
        self.update(true);
        if let Some(p) = self.phase.lock().expect("not poisoned").take() {
            p.bar.finish();
        }
    }
}

fn human(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// Prints the lake's tables; the untitled table of a snapshot without
/// tables (`*`) is shown as its `source`.
fn print_summary(v: &Validation, secs: f64, source: &str) {
    let name = |t: &str| if t == "*" { source } else { t }.to_string();
    let width = v
        .tables
        .iter()
        .map(|t| name(&t.table).chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    println!(
        "{:<width$}  {:>10}  {:>7}  {:>12}  {:>10}",
        "table", "partitions", "files", "records", "bytes"
    );
    for t in &v.tables {
        println!(
            "{:<width$}  {:>10}  {:>7}  {:>12}  {:>10}",
            name(&t.table),
            t.partitions.len(),
            t.n_file,
            t.n_record,
            human(t.size)
        );
    }
    println!(
        "{:<width$}  {:>10}  {:>7}  {:>12}  {:>10}",
        "total",
        v.tables.iter().map(|t| t.partitions.len()).sum::<usize>(),
        v.n_file(),
        v.n_record(),
        human(v.size())
    );
    let timing = if secs > 0.0 {
        format!(" in {secs:.1} s")
    } else {
        String::new()
    };
    println!(
        "validation: OK, every record of the snapshot is in the lake{timing}; wrote {}/_SUCCESS",
        v.datalake
    );
}

/// The AWS configuration of the environment, at `--endpoint-url` if given.
async fn aws_config_of(s3: &S3Flags) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(ep) = &s3.endpoint_url {
        loader = loader.endpoint_url(ep);
    }
    loader.load().await
}

async fn sfn_client(s3: &S3Flags) -> aws_sdk_sfn::Client {
    aws_sdk_sfn::Client::new(&aws_config_of(s3).await)
}

/// Starts the job's execution; an execution of the same snapshot already
/// there is success (the same name cannot start twice).
async fn start(client: &aws_sdk_sfn::Client, state_machine_arn: &str, job: &Job) -> Result<()> {
    let e = executions::start(client, state_machine_arn, job).await?;
    if e.started {
        println!("started {}", e.arn);
    } else {
        println!("already started (same snapshot, same name): {}", e.arn);
    }
    println!("follow it with: dbsnaplake status {}", e.arn);
    Ok(())
}

/// Prints an execution's state and its Map runs' item counts.
async fn status(client: &aws_sdk_sfn::Client, execution_arn: &str) -> Result<()> {
    let ex = client
        .describe_execution()
        .execution_arn(execution_arn)
        .send()
        .await
        .with_context(|| format!("DescribeExecution {execution_arn}"))?;
    println!(
        "execution {}: {}",
        ex.name().unwrap_or(execution_arn),
        ex.status().as_str()
    );
    if let Some(cause) = ex.cause() {
        println!("  {}: {cause}", ex.error().unwrap_or("error"));
    }
    let runs = client
        .list_map_runs()
        .execution_arn(execution_arn)
        .send()
        .await
        .with_context(|| format!("ListMapRuns {execution_arn}"))?;
    for run in runs.map_runs() {
        let d = client
            .describe_map_run()
            .map_run_arn(run.map_run_arn())
            .send()
            .await
            .with_context(|| format!("DescribeMapRun {}", run.map_run_arn()))?;
        if let Some(c) = d.item_counts() {
            println!(
                "  map run {}: {} — {} items: {} succeeded, {} failed, {} running, {} pending",
                run.map_run_arn().rsplit(['/', ':']).nth(1).unwrap_or("?"),
                d.status().as_str(),
                c.total(),
                c.succeeded(),
                c.failed(),
                c.running(),
                c.pending()
            );
        }
    }
    Ok(())
}
