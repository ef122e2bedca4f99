//! Step 4: the validated lake registered in the AWS Glue Data Catalog, so
//! Athena, Redshift Spectrum and EMR query it at once (job field `catalog`).
//!
//! Each lake table becomes an external Parquet table, its columns mapped
//! from the lake's Arrow schema to Hive types ([`hive_type`]), the job's
//! partition keys as string partition columns, located at the table's
//! folder of this snapshot. Beside it, `<table>_history` holds every
//! snapshot registered, partitioned by `snapshot` first.
//!
//! Switching to a new snapshot never shows rows of two snapshots:
//! - `projection` (the default): the partitions are Athena projections
//!   (`enum` values from what the lake holds, and a location template), so
//!   one `UpdateTable` moves every reader from the old snapshot to the new
//!   one at once.
//! - `register`: the old snapshot's partitions are deleted before the new
//!   one's are added, so a query running meanwhile sees part of one
//!   snapshot, never a mix.
//!
//! Registering runs only after `_SUCCESS` names this snapshot, and is
//! idempotent: a rerun finds the tables as it would write them and every
//! partition present, and changes nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_glue::Client;
use aws_sdk_glue::types::{
    Column, DatabaseInput, PartitionInput, PartitionValueList, SerDeInfo, StorageDescriptor,
    TableInput,
};
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::config::{AthenaTypes, Catalog, OutputFormat, TableSpec};
use crate::error::{Error, Result};
use crate::parquet_io::{from_pq, read_footer};
use crate::steps::Run;
use crate::steps::validate::Validation;
use crate::transform::Transform;

/// The Hive / Athena type of an Arrow type, or why Athena cannot read it.
pub fn hive_type(t: &DataType) -> std::result::Result<String, String> {
    use DataType::*;
    Ok(match t {
        Utf8 | LargeUtf8 | Utf8View => "string".into(),
        Int64 => "bigint".into(),
        Int32 => "int".into(),
        Int16 => "smallint".into(),
        Int8 => "tinyint".into(),
        Boolean => "boolean".into(),
        Float64 => "double".into(),
        Float32 => "float".into(),
        Decimal128(p, s) => format!("decimal({p},{s})"),
        Timestamp(TimeUnit::Nanosecond, _) => {
            return Err("a nanosecond timestamp, which Athena reads wrong".into());
        }
        Timestamp(..) => "timestamp".into(),
        Date32 | Date64 => "date".into(),
        Binary | LargeBinary | FixedSizeBinary(_) | BinaryView => "binary".into(),
        List(f) | LargeList(f) | FixedSizeList(f, _) => {
            format!("array<{}>", hive_type(f.data_type())?)
        }
        Struct(fields) => {
            let inner = fields
                .iter()
                .map(|f| Ok(format!("{}:{}", f.name(), hive_type(f.data_type())?)))
                .collect::<std::result::Result<Vec<_>, String>>()?;
            format!("struct<{}>", inner.join(","))
        }
        Map(entries, _) => match entries.data_type() {
            Struct(kv) if kv.len() == 2 => format!(
                "map<{},{}>",
                hive_type(kv[0].data_type())?,
                hive_type(kv[1].data_type())?
            ),
            other => return Err(format!("a map of {other}")),
        },
        UInt8 | UInt16 | UInt32 | UInt64 => {
            return Err(format!("{t}: Athena has no unsigned integers"));
        }
        other => return Err(format!("{other}, which Athena has no type for")),
    })
}

/// The type `athena_types: coerce` turns `t` into, losslessly.
fn coerced(t: &DataType) -> Option<DataType> {
    use DataType::*;
    Some(match t {
        UInt8 => Int16,
        UInt16 => Int32,
        UInt32 => Int64,
        UInt64 => Decimal128(20, 0),
        Timestamp(TimeUnit::Nanosecond, tz) => Timestamp(TimeUnit::Microsecond, tz.clone()),
        _ => return None,
    })
}

/// The transform `athena_types: coerce` adds to every table: unsigned
/// integers widened, nanosecond timestamps in microseconds (a value with
/// digits below the microsecond fails, naming it).
#[derive(Debug)]
pub struct Coerce;

impl Transform for Coerce {
    fn schema(&self, input: &SchemaRef) -> std::result::Result<SchemaRef, String> {
        let fields: Vec<Field> = input
            .fields()
            .iter()
            .map(|f| match coerced(f.data_type()) {
                Some(t) => f.as_ref().clone().with_data_type(t),
                None => f.as_ref().clone(),
            })
            .collect();
        Ok(Arc::new(Schema::new(fields)))
    }

    fn apply(&self, batch: &RecordBatch) -> std::result::Result<RecordBatch, String> {
        let schema = self.schema(&batch.schema())?;
        let columns = batch
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(c, f)| {
                if c.data_type() == f.data_type() {
                    return Ok(c.clone());
                }
                crate::restore::convert(c, f.data_type())
                    .map_err(|e| format!("column {:?} for Athena: {e}", f.name()))
            })
            .collect::<std::result::Result<Vec<ArrayRef>, String>>()?;
        RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())
    }
}

/// Checks a table's lake schema (`schema`, before its partition columns
/// are dropped) for the catalog: no two columns differ only in case, and
/// every column has a Hive type (Iceberg output: an Iceberg type, and the
/// table's partitions and order an Iceberg spec). Run by the planner,
/// before any row is read.
pub fn check_schema(
    catalog: &Catalog,
    schema: &Schema,
    spec: &TableSpec,
    format: OutputFormat,
) -> std::result::Result<(), String> {
    let keys = &spec.partition_by;
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    let keys = keys.iter().map(|k| k.name.as_str());
    let names = schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|n| !keys.clone().any(|k| k == *n))
        .chain(keys.clone());
    for name in names {
        if let Some(other) = seen.insert(name.to_ascii_lowercase(), name) {
            return Err(format!(
                "columns {other:?} and {name:?} differ only in case, and Glue lowercases names"
            ));
        }
    }
    let hint = |t: &DataType| match (catalog.athena_types, coerced(t)) {
        (AthenaTypes::Refuse, Some(t)) => {
            format!("; \"athena_types\": \"coerce\" in catalog would write it as {t}")
        }
        _ => String::new(),
    };
    if format == OutputFormat::Iceberg {
        for f in schema.fields() {
            crate::iceberg::schema::check_types(&Schema::new(vec![f.as_ref().clone()])).map_err(
                |why| {
                    format!(
                        "{why}: the Iceberg table cannot hold it{}",
                        hint(f.data_type())
                    )
                },
            )?;
        }
        let (fields, _) = crate::iceberg::schema::fields(schema, &[], 0)?;
        crate::iceberg::schema::partition_spec(spec, schema, &fields)?;
        crate::iceberg::schema::sort_fields(spec, &fields)?;
        return Ok(());
    }
    for f in schema.fields() {
        if let Err(why) = hive_type(f.data_type()) {
            return Err(format!(
                "column {:?} is {why}: the catalog cannot register it{}",
                f.name(),
                hint(f.data_type())
            ));
        }
    }
    Ok(())
}

/// What registering did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    /// Where: the Glue database, or the Iceberg catalog and namespace.
    pub catalog: String,
    /// The Glue database (or Iceberg namespace).
    pub database: String,
    /// Iceberg output: each table written got one new version.
    #[serde(default)]
    pub iceberg: bool,
    /// The tables written (created or updated, or Iceberg tables given a
    /// version; a rerun writes none).
    pub tables_written: Vec<String>,
    /// Partitions added, over every table.
    pub partitions_added: usize,
    /// Partitions of an older snapshot removed from current tables.
    pub partitions_removed: usize,
}

/// The Glue client, from the default credential and region chain (the
/// job's `s3.region` wins); `AWS_ENDPOINT_URL_GLUE` points it elsewhere.
pub async fn glue_client(run: &Run) -> Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = &run.job.s3.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    let config = loader.load().await;
    let conf = aws_sdk_glue::config::Builder::from(&config)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(8)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(10)),
        )
        .build();
    Client::from_conf(conf)
}

/// The error of a Glue call: throttling and service faults are transient.
pub(crate) fn glue_error<E, R>(call: String, e: aws_sdk_glue::error::SdkError<E, R>) -> Error
where
    E: aws_sdk_glue::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let code = e.code().map(str::to_string);
    let transient = match code.as_deref() {
        None => true,
        Some(c) => matches!(
            c,
            "ThrottlingException" | "InternalServiceException" | "OperationTimeoutException"
        ),
    };
    Error::Service {
        call,
        message: e.message().map_or_else(
            || format!("{}", aws_sdk_glue::error::DisplayErrorContext(&e)),
            str::to_string,
        ),
        transient,
    }
}

use aws_sdk_glue::error::ProvideErrorMetadata;

const PARQUET_SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
const PARQUET_INPUT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
const PARQUET_OUTPUT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";

/// The snapshot's name in the catalog: the datalake folder's path below
/// its bucket (each snapshot is converted into its own datalake folder):
/// `s3://lake/appdb-2024-06-01/` is `appdb-2024-06-01`.
fn snapshot_id(run: &Run) -> String {
    let path = run.job.datalake.trim_start_matches("s3://");
    let path = path.split_once('/').map_or("", |(_, p)| p);
    path.trim_matches('/').to_string()
}

/// One table to register.
struct Plan {
    name: String,
    location: String,
    columns: Vec<(String, String)>,
    keys: Vec<String>,
    /// Hive paths of its partitions (`year=2024/month=03`), sorted.
    partitions: Vec<String>,
    params: BTreeMap<String, String>,
}

fn column(name: &str, t: &str) -> Result<Column> {
    Column::builder()
        .name(name.to_ascii_lowercase())
        .r#type(t)
        .build()
        .map_err(|e| Error::Internal(e.to_string()))
}

fn storage(location: &str, columns: &[(String, String)]) -> Result<StorageDescriptor> {
    let mut sd = StorageDescriptor::builder()
        .location(location)
        .input_format(PARQUET_INPUT)
        .output_format(PARQUET_OUTPUT)
        .serde_info(
            SerDeInfo::builder()
                .serialization_library(PARQUET_SERDE)
                .parameters("serialization.format", "1")
                .build(),
        );
    for (n, t) in columns {
        sd = sd.columns(column(n, t)?);
    }
    Ok(sd.build())
}

impl Plan {
    fn input(
        &self,
        name: &str,
        keys: &[String],
        params: &BTreeMap<String, String>,
    ) -> Result<TableInput> {
        let mut t = TableInput::builder()
            .name(name)
            .table_type("EXTERNAL_TABLE")
            .storage_descriptor(storage(&self.location, &self.columns)?);
        for k in keys {
            t = t.partition_keys(column(k, "string")?);
        }
        for (k, v) in params {
            t = t.parameters(k, v);
        }
        t.build().map_err(|e| Error::Internal(e.to_string()))
    }

    /// The values of a partition path, in key order.
    fn values(&self, path: &str) -> Vec<String> {
        path.split('/')
            .map(|seg| seg.split_once('=').map_or(seg, |(_, v)| v).to_string())
            .collect()
    }
}

/// Registers the validated lake in the job's catalog (Iceberg output:
/// commits its tables' new versions); nothing when the job has none.
pub async fn register(run: &Run) -> Result<Option<Registered>> {
    let Some(catalog) = &run.job.catalog else {
        return Ok(None);
    };
    let validation = validated(run).await?;
    if run.job.output.format == OutputFormat::Iceberg {
        return crate::iceberg::commit(run, catalog, &validation)
            .await
            .map(Some);
    }
    let plans = plan_tables(run, catalog, &validation).await?;
    let glue = glue_client(run).await;
    let db = &catalog.database;
    ensure_database(&glue, db).await?;
    let mut out = Registered {
        catalog: catalog.describe(run.job.output.format),
        database: db.clone(),
        ..Default::default()
    };
    for plan in &plans {
        register_table(&glue, db, catalog, plan, &snapshot_id(run), &mut out).await?;
    }
    info!(database = %db, tables = ?out.tables_written, added = out.partitions_added, removed = out.partitions_removed, "lake registered in Glue");
    Ok(Some(out))
}

/// The validation result `_SUCCESS` stands for, if it names this snapshot.
async fn validated(run: &Run) -> Result<Validation> {
    let marker = run.layout.success_marker();
    let done: serde_json::Value = match run.store.get(&marker).await {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_default(),
        Err(Error::NotFound { .. }) => serde_json::Value::Null,
        Err(e) => return Err(e),
    };
    if done.get("snapshot_manifest").and_then(|v| v.as_str()) != Some(&run.snapshot_manifest()) {
        return Err(Error::Validation(format!(
            "{marker} does not mark this snapshot's lake as validated: the catalog is left as it is"
        )));
    }
    serde_json::from_slice(&run.store.get(&run.layout.validate_result()).await?)
        .map_err(|e| Error::bad_data(&run.layout.validate_result(), e.to_string()))
}

/// The time of the database snapshot: what an export summary records
/// (RDS's `snapshotTime`, DynamoDB's `exportTime`), else the datalake
/// folder's `snapshot=<time>` segment, as the seed's layout names it.
pub(crate) fn snapshot_time(
    summary: &crate::manifest::ManifestSummary,
    datalake: &str,
) -> Option<String> {
    let snap = &summary.details.snapshot;
    let from_path = || {
        datalake
            .split('/')
            .filter_map(|seg| seg.strip_prefix("snapshot="))
            .find(|t| crate::partition::parse_iso8601(t).is_some())
            .map(str::to_string)
    };
    snap.rds_export
        .as_ref()
        .and_then(|r| r.task.get("snapshotTime"))
        .or_else(|| {
            snap.dynamodb_export
                .as_ref()
                .and_then(|d| d.task.get("exportTime"))
        })
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .or_else(from_path)
}

/// Every lake table's Glue table, from the validation result and one lake
/// file's footer each.
async fn plan_tables(run: &Run, catalog: &Catalog, validation: &Validation) -> Result<Vec<Plan>> {
    let summary = crate::manifest::read_summary(&run.store, &run.snapshot_manifest()).await?;
    let snapshot_time = snapshot_time(&summary, &run.job.datalake);
    let mut plans = Vec::new();
    for t in &validation.tables {
        let table = (t.table != "*").then_some(t.table.as_str());
        let spec = run.job.table_spec(table);
        let location = format!(
            "{}/",
            run.layout.datalake_table(table).trim_end_matches('/')
        );
        let files = run.store.list(&location).await?;
        let file = files
            .iter()
            .find(|m| m.uri.ends_with(".parquet"))
            .ok_or_else(|| {
                Error::bad_data(&location, "no lake file to read the table's columns from")
            })?;
        let footer = read_footer(&run.store, &file.uri, file.size).await?;
        let schema = ArrowReaderMetadata::try_new(footer, Default::default())
            .map_err(|e| from_pq(&file.uri, e))?
            .schema()
            .clone();
        check_schema(catalog, &schema, &spec, OutputFormat::Parquet).map_err(|message| {
            Error::Schema {
                table: t.table.clone(),
                message,
            }
        })?;
        let columns = schema
            .fields()
            .iter()
            .map(|f| {
                Ok((
                    f.name().clone(),
                    hive_type(f.data_type()).map_err(Error::Internal)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let keys: Vec<String> = spec.partition_by.iter().map(|p| p.name.clone()).collect();
        let partitions: Vec<String> = t
            .partitions
            .iter()
            .map(|p| p.partition.trim_matches('/').to_string())
            .filter(|p| !p.is_empty())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut params = BTreeMap::from([
            ("classification".to_string(), "parquet".to_string()),
            ("EXTERNAL".into(), "TRUE".into()),
            ("recordCount".into(), t.n_record.to_string()),
            ("dbsnaplake.snapshot".into(), snapshot_id(run)),
            (
                "dbsnaplake.snapshot_manifest".into(),
                run.snapshot_manifest(),
            ),
        ]);
        if let Some(time) = &snapshot_time {
            params.insert("dbsnaplake.snapshot_time".into(), time.clone());
        }
        plans.push(Plan {
            name: catalog.table_name(table),
            location,
            columns,
            keys,
            partitions,
            params,
        });
    }
    Ok(plans)
}

/// Creates the Glue database `db` when missing.
pub(crate) async fn ensure_database(glue: &Client, db: &str) -> Result<()> {
    match glue.get_database().name(db).send().await {
        Ok(_) => return Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_entity_not_found_exception()) => {}
        Err(e) => return Err(glue_error(format!("GetDatabase {db}"), e)),
    }
    let input = DatabaseInput::builder()
        .name(db)
        .description("Data lakes converted by dbsnaplake")
        .build()
        .map_err(|e| Error::Internal(e.to_string()))?;
    match glue.create_database().database_input(input).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(glue_error(format!("CreateDatabase {db}"), e)),
    }
}

/// The parameters, location and columns of a table as Glue holds it.
type Held = (
    HashMap<String, String>,
    Option<String>,
    Vec<(String, String)>,
);

async fn get_table(glue: &Client, db: &str, name: &str) -> Result<Option<Held>> {
    match glue.get_table().database_name(db).name(name).send().await {
        Ok(out) => Ok(out.table().map(|t| {
            let sd = t.storage_descriptor();
            (
                t.parameters().cloned().unwrap_or_default(),
                sd.and_then(|s| s.location()).map(str::to_string),
                sd.map(|s| {
                    s.columns()
                        .iter()
                        .map(|c| {
                            (
                                c.name().to_string(),
                                c.r#type().unwrap_or_default().to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            )
        })),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_entity_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(glue_error(format!("GetTable {db}.{name}"), e)),
    }
}

/// Creates the table, or updates it when it differs from `input`'s
/// parameters, location or columns; returns whether it wrote.
async fn put_table(
    glue: &Client,
    db: &str,
    plan: &Plan,
    name: &str,
    keys: &[String],
    params: &BTreeMap<String, String>,
) -> Result<bool> {
    let input = plan.input(name, keys, params)?;
    let lower: Vec<(String, String)> = plan
        .columns
        .iter()
        .map(|(n, t)| (n.to_ascii_lowercase(), t.clone()))
        .collect();
    match get_table(glue, db, name).await? {
        Some((held, location, columns))
            if params.iter().all(|(k, v)| held.get(k) == Some(v))
                && location.as_deref() == Some(plan.location.as_str())
                && columns == lower =>
        {
            Ok(false)
        }
        Some(_) => {
            glue.update_table()
                .database_name(db)
                .table_input(input)
                .send()
                .await
                .map_err(|e| glue_error(format!("UpdateTable {db}.{name}"), e))?;
            Ok(true)
        }
        None => {
            glue.create_table()
                .database_name(db)
                .table_input(input)
                .send()
                .await
                .map_err(|e| glue_error(format!("CreateTable {db}.{name}"), e))?;
            Ok(true)
        }
    }
}

/// Every partition of a table: its values and location.
async fn partitions(
    glue: &Client,
    db: &str,
    name: &str,
) -> Result<BTreeMap<Vec<String>, Option<String>>> {
    let mut out = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let page = glue
            .get_partitions()
            .database_name(db)
            .table_name(name)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| glue_error(format!("GetPartitions {db}.{name}"), e))?;
        for p in page.partitions() {
            out.insert(
                p.values().to_vec(),
                p.storage_descriptor()
                    .and_then(|s| s.location())
                    .map(str::to_string),
            );
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Adds `wanted` partitions (values → location) missing from the table
/// and, with `replace`, first removes the table's others; returns (added,
/// removed).
async fn sync_partitions(
    glue: &Client,
    db: &str,
    name: &str,
    columns: &[(String, String)],
    wanted: &BTreeMap<Vec<String>, String>,
    replace: bool,
) -> Result<(usize, usize)> {
    let held = partitions(glue, db, name).await?;
    let stale: Vec<&Vec<String>> = held
        .iter()
        .filter(|(v, loc)| replace && wanted.get(*v) != loc.as_ref())
        .map(|(v, _)| v)
        .collect();
    for chunk in stale.chunks(25) {
        let mut call = glue
            .batch_delete_partition()
            .database_name(db)
            .table_name(name);
        for v in chunk {
            call = call.partitions_to_delete(
                PartitionValueList::builder()
                    .set_values(Some(v.to_vec()))
                    .build()
                    .map_err(|e| Error::Internal(e.to_string()))?,
            );
        }
        let out = call
            .send()
            .await
            .map_err(|e| glue_error(format!("BatchDeletePartition {db}.{name}"), e))?;
        if let Some(e) = out.errors().first() {
            return Err(Error::Service {
                call: format!("BatchDeletePartition {db}.{name}"),
                message: format!("{:?}", e.error_detail()),
                transient: false,
            });
        }
    }
    let missing: Vec<(&Vec<String>, &String)> = wanted
        .iter()
        .filter(|(v, loc)| stale.contains(v) || held.get(*v) != Some(&Some(loc.to_string())))
        .collect();
    for chunk in missing.chunks(100) {
        let mut call = glue
            .batch_create_partition()
            .database_name(db)
            .table_name(name);
        for (v, loc) in chunk {
            call = call.partition_input_list(
                PartitionInput::builder()
                    .set_values(Some(v.to_vec()))
                    .storage_descriptor(storage(loc, columns)?)
                    .build(),
            );
        }
        let out = call
            .send()
            .await
            .map_err(|e| glue_error(format!("BatchCreatePartition {db}.{name}"), e))?;
        // A duplicated invocation may have added some first: that is done work.
        if let Some(e) = out.errors().iter().find(|e| {
            e.error_detail()
                .and_then(|d| d.error_code())
                .is_none_or(|c| c != "AlreadyExistsException")
        }) {
            return Err(Error::Service {
                call: format!("BatchCreatePartition {db}.{name}"),
                message: format!("{:?}", e.error_detail()),
                transient: false,
            });
        }
    }
    Ok((missing.len(), stale.len()))
}

async fn register_table(
    glue: &Client,
    db: &str,
    catalog: &Catalog,
    plan: &Plan,
    snapshot: &str,
    out: &mut Registered,
) -> Result<()> {
    let projection = catalog.partitions == crate::config::Partitions::Projection;
    let mut params = plan.params.clone();
    if projection && !plan.keys.is_empty() {
        params.insert("projection.enabled".into(), "true".into());
        let mut template = plan.location.clone();
        for (i, k) in plan.keys.iter().enumerate() {
            let values: BTreeSet<String> = plan
                .partitions
                .iter()
                .filter_map(|p| plan.values(p).get(i).cloned())
                .collect();
            params.insert(format!("projection.{k}.type"), "enum".into());
            params.insert(
                format!("projection.{k}.values"),
                values.into_iter().collect::<Vec<_>>().join(","),
            );
            template.push_str(&format!("{k}=${{{k}}}/"));
        }
        params.insert("storage.location.template".into(), template);
    }
    let located = |p: &String| (plan.values(p), format!("{}{p}/", plan.location));
    if put_table(glue, db, plan, &plan.name, &plan.keys, &params).await? {
        out.tables_written.push(plan.name.clone());
    }
    if !projection && !plan.keys.is_empty() {
        let wanted: BTreeMap<Vec<String>, String> = plan.partitions.iter().map(located).collect();
        let (added, removed) =
            sync_partitions(glue, db, &plan.name, &plan.columns, &wanted, true).await?;
        out.partitions_added += added;
        out.partitions_removed += removed;
    }
    // The history: every snapshot, by `snapshot` first.
    let history = format!("{}_history", plan.name);
    let mut keys = vec!["snapshot".to_string()];
    keys.extend(plan.keys.iter().cloned());
    let mut history_params = plan.params.clone();
    history_params.retain(|k, _| k == "classification" || k == "EXTERNAL");
    if put_table(glue, db, plan, &history, &keys, &history_params).await? {
        out.tables_written.push(history);
    }
    let wanted: BTreeMap<Vec<String>, String> = if plan.keys.is_empty() {
        BTreeMap::from([(vec![snapshot.to_string()], plan.location.clone())])
    } else {
        plan.partitions
            .iter()
            .map(|p| {
                let (mut v, loc) = located(p);
                v.insert(0, snapshot.to_string());
                (v, loc)
            })
            .collect()
    };
    let (added, _) = sync_partitions(
        glue,
        db,
        &format!("{}_history", plan.name),
        &plan.columns,
        &wanted,
        false,
    )
    .await?;
    out.partitions_added += added;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrow_types_map_to_hive_types() {
        use DataType::*;
        let item = |t: DataType| Arc::new(Field::new("item", t, true));
        assert_eq!(hive_type(&Decimal128(12, 2)).unwrap(), "decimal(12,2)");
        assert_eq!(
            hive_type(&Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))).unwrap(),
            "timestamp"
        );
        assert_eq!(hive_type(&List(item(Int64))).unwrap(), "array<bigint>");
        let s = Struct(vec![Field::new("zip", Utf8, true), Field::new("n", Int32, true)].into());
        assert_eq!(hive_type(&s).unwrap(), "struct<zip:string,n:int>");
        assert!(hive_type(&UInt64).unwrap_err().contains("no unsigned"));
        assert!(hive_type(&Timestamp(TimeUnit::Nanosecond, None)).is_err());
        assert!(hive_type(&Duration(TimeUnit::Second)).is_err());
    }

    #[test]
    fn the_planner_refuses_what_glue_cannot_hold_naming_the_column() {
        let mut c: Catalog =
            serde_json::from_str(r#"{"type": "glue", "database": "shop"}"#).unwrap();
        let schema = Schema::new(vec![
            Field::new("id", DataType::UInt64, true),
            Field::new("Name", DataType::Utf8, true),
        ]);
        let e =
            check_schema(&c, &schema, &TableSpec::default(), OutputFormat::Parquet).unwrap_err();
        assert!(
            e.contains("column \"id\"") && e.contains("would write it as Decimal128(20, 0)"),
            "{e}"
        );
        c.athena_types = AthenaTypes::Coerce;
        let coerced = Coerce.schema(&Arc::new(schema.clone())).unwrap();
        check_schema(&c, &coerced, &TableSpec::default(), OutputFormat::Parquet).unwrap();
        let twins = Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("NAME", DataType::Utf8, true),
        ]);
        let e = check_schema(&c, &twins, &TableSpec::default(), OutputFormat::Parquet).unwrap_err();
        assert!(
            e.contains("\"name\" and \"NAME\" differ only in case"),
            "{e}"
        );
    }

    #[test]
    fn coercion_is_lossless_or_fails_naming_the_value() {
        use arrow::array::{TimestampNanosecondArray, UInt64Array};
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::UInt64, true),
            Field::new("t", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
        ]));
        let batch = |t: i64| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(UInt64Array::from(vec![u64::MAX])),
                    Arc::new(TimestampNanosecondArray::from(vec![t])),
                ],
            )
            .unwrap()
        };
        let out = Coerce.apply(&batch(1_000_000_000)).unwrap();
        assert_eq!(
            out.schema().field(0).data_type(),
            &DataType::Decimal128(20, 0)
        );
        assert_eq!(
            out.column(1).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        let e = Coerce.apply(&batch(1_000_000_001)).unwrap_err();
        assert!(
            e.contains("column \"t\"") && e.contains("1000000001"),
            "{e}"
        );
    }
}
