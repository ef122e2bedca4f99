//! Where the lake is registered once it validates (`catalog`).
//!
//! ```json
//! "catalog": {"type": "glue", "database": "shop",
//!             "tables": {"mydb/public/orders": "orders", "*": "orders"},
//!             "partitions": "projection", "athena_types": "refuse"}
//! ```
//!
//! With `"output": {"format": "iceberg"}` the tables are Iceberg tables,
//! their metadata under `warehouse`, in Glue (`type: glue`) or in an
//! Iceberg SQL catalog (`type: sql`, `uri: sqlite:////abs/catalog.db`).
//!
//! Names are checked as the job is read: Glue lowercases them, so two lake
//! tables whose Glue names differ only in case are refused naming both, and
//! so is a name Athena cannot hold.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::OutputFormat;
use super::table::check_table_key;

/// The catalog the lake is registered in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// The kind of catalog: `glue`, the AWS Glue Data Catalog, or `sql`,
    /// an Iceberg SQL catalog.
    #[serde(rename = "type")]
    pub kind: CatalogKind,
    /// The SQL catalog's database, `sqlite:////abs/path/catalog.db`
    /// (`type: sql` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Where Iceberg tables keep their metadata,
    /// `<warehouse>/<database>/<table>/metadata/` (Iceberg output only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<String>,
    /// The SQL catalog's name: its rows are under it (default `dbsnaplake`).
    #[serde(default = "default_name")]
    pub name: String,
    /// The database (Glue) or namespace (SQL) of the lake's tables,
    /// created if missing.
    pub database: String,
    /// Glue table names by lake table (`database/schema/table`, `*` for the
    /// untitled table of a single-table snapshot); by default a table's
    /// last segment.
    #[serde(default)]
    pub tables: BTreeMap<String, String>,
    /// How readers find partitions: `projection` (default) or `register`.
    #[serde(default)]
    pub partitions: Partitions,
    /// Types Athena cannot read: `refuse` (default) or `coerce` them losslessly.
    #[serde(default)]
    pub athena_types: AthenaTypes,
}

/// The catalogs a lake is registered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CatalogKind {
    /// The AWS Glue Data Catalog.
    Glue,
    /// An Iceberg SQL catalog (pyiceberg's `SqlCatalog`, Java's JDBC catalog).
    Sql,
}

fn default_name() -> String {
    "dbsnaplake".into()
}

/// How a registered table's partitions are found.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Partitions {
    /// Athena partition projection: one table update switches every reader.
    #[default]
    Projection,
    /// Every partition added to the catalog, for readers that ignore
    /// projection (Spark on EMR or Glue).
    Register,
}

/// What happens to a column type Athena cannot read.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AthenaTypes {
    /// The planner refuses it, naming the column.
    #[default]
    Refuse,
    /// Mapped losslessly: uint8/16/32 to the next wider signed integer,
    /// uint64 to decimal(20,0), nanosecond timestamps to microseconds when
    /// no value loses digits.
    Coerce,
}

/// The SQLite file of a SQL catalog's `uri` (`sqlite:////abs/path.db`, as
/// SQLAlchemy and pyiceberg write it).
pub fn sqlite_path(uri: &str) -> Result<&str, String> {
    match uri.strip_prefix("sqlite:///") {
        Some(path) if path.starts_with('/') && path.len() > 1 => Ok(path),
        Some(_) => Err(format!(
            "catalog.uri: {uri:?} names a relative file; write sqlite:////abs/path/catalog.db (four slashes)"
        )),
        None => Err(format!(
            "catalog.uri: {uri:?}: the SQL catalog runs on SQLite; write sqlite:////abs/path/catalog.db"
        )),
    }
}

/// Whether `name` is a name Athena holds: letters, digits and `_`, at most 255.
pub fn athena_name(name: &str) -> bool {
    (1..=255).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Catalog {
    /// The Glue table name of the lake table `table` (`None`: untitled).
    pub fn table_name(&self, table: Option<&str>) -> String {
        let key = table.unwrap_or("*");
        let name = self
            .tables
            .get(key)
            .cloned()
            .unwrap_or_else(|| match table {
                Some(t) => t.rsplit('/').next().unwrap_or(t).to_string(),
                None => self.database.clone(),
            });
        name.to_ascii_lowercase()
    }

    /// Where the lake's tables go, for messages: `the Glue database shop`.
    pub fn describe(&self, format: OutputFormat) -> String {
        match (self.kind, format) {
            (CatalogKind::Glue, OutputFormat::Iceberg) => {
                format!("Iceberg tables of the Glue database {}", self.database)
            }
            (CatalogKind::Glue, _) => format!("the Glue database {}", self.database),
            (CatalogKind::Sql, _) => format!(
                "Iceberg tables of namespace {} in the SQL catalog {} ({})",
                self.database,
                self.name,
                self.uri.as_deref().unwrap_or_default()
            ),
        }
    }

    /// Checks names, the datalake (`datalake`, the job's) and the lake's
    /// format (`iceberg`: Iceberg output, else Parquet).
    pub fn check(&self, datalake: &str, format: OutputFormat) -> Result<(), String> {
        let iceberg = format == OutputFormat::Iceberg;
        if self.kind == CatalogKind::Glue && !datalake.starts_with("s3://") {
            return Err(format!(
                "catalog: the Glue catalog points readers at S3, but datalake is {datalake:?}: \
                 give an s3:// datalake"
            ));
        }
        match (self.kind, format) {
            (CatalogKind::Glue, OutputFormat::Parquet | OutputFormat::Iceberg) => {}
            (CatalogKind::Glue, _) => {
                return Err(
                    "catalog: registers Parquet or Iceberg lakes; set output.format to parquet or iceberg"
                        .into(),
                );
            }
            (CatalogKind::Sql, OutputFormat::Iceberg) => {}
            (CatalogKind::Sql, _) => {
                return Err(
                    "catalog: an Iceberg SQL catalog holds Iceberg tables; set output.format to iceberg"
                        .into(),
                );
            }
        }
        match (&self.warehouse, iceberg) {
            (None, true) => {
                return Err(
                    "catalog.warehouse: Iceberg tables keep their metadata there; give a folder (an absolute path or s3://)"
                        .into(),
                );
            }
            (Some(w), true) if !(w.starts_with("s3://") || w.starts_with('/')) => {
                return Err(format!(
                    "catalog.warehouse: {w:?} is neither an absolute path nor an s3:// URI"
                ));
            }
            (Some(w), true) if self.kind == CatalogKind::Glue && !w.starts_with("s3://") => {
                return Err(format!(
                    "catalog.warehouse: {w:?}: tables in Glue keep their metadata on S3; give an s3:// warehouse"
                ));
            }
            (Some(_), false) => {
                return Err(
                    "catalog.warehouse: holds Iceberg metadata; set output.format to iceberg"
                        .into(),
                );
            }
            _ => {}
        }
        match (self.kind, &self.uri) {
            (CatalogKind::Sql, None) => {
                return Err(
                    "catalog.uri: the SQL catalog's database, like sqlite:////abs/path/catalog.db"
                        .into(),
                );
            }
            (CatalogKind::Sql, Some(u)) => {
                sqlite_path(u)?;
            }
            (CatalogKind::Glue, Some(_)) => {
                return Err("catalog.uri: goes with \"type\": \"sql\"".into());
            }
            (CatalogKind::Glue, None) => {}
        }
        if self.name.is_empty() {
            return Err("catalog.name: must not be empty".into());
        }
        if !athena_name(&self.database) {
            return Err(format!(
                "catalog.database: {:?} is not a name Athena holds (letters, digits and _)",
                self.database
            ));
        }
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for (key, name) in &self.tables {
            if key != "*" {
                check_table_key(key).map_err(|m| format!("catalog.tables: {m}"))?;
            }
            if !athena_name(name) {
                return Err(format!(
                    "catalog.tables.{key}: {name:?} is not a name Athena holds (letters, digits and _)"
                ));
            }
            if let Some(other) = seen.insert(name.to_ascii_lowercase(), key) {
                return Err(format!(
                    "catalog.tables: {other} and {key} are both {:?} in Glue, which lowercases names",
                    name.to_ascii_lowercase()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(tables: &[(&str, &str)]) -> Catalog {
        Catalog {
            kind: CatalogKind::Glue,
            uri: None,
            warehouse: None,
            name: default_name(),
            database: "shop".into(),
            tables: tables
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            partitions: Partitions::Projection,
            athena_types: AthenaTypes::Refuse,
        }
    }

    #[test]
    fn names_are_checked_as_glue_keeps_them() {
        let c = catalog(&[("a/b/Orders", "Orders"), ("a/b/orders2", "ORDERS")]);
        let e = c.check("s3://b/lake", OutputFormat::Parquet).unwrap_err();
        assert!(
            e.contains("a/b/Orders and a/b/orders2 are both \"orders\""),
            "{e}"
        );
        let e = catalog(&[("a/b/c", "my-table")])
            .check("s3://b/lake", OutputFormat::Parquet)
            .unwrap_err();
        assert!(e.contains("\"my-table\" is not a name Athena holds"), "{e}");
        let e = catalog(&[])
            .check("/tmp/lake", OutputFormat::Parquet)
            .unwrap_err();
        assert!(e.contains("datalake is \"/tmp/lake\""), "{e}");
        let c = catalog(&[("*", "Orders")]);
        c.check("s3://b/lake", OutputFormat::Parquet).unwrap();
        assert_eq!(c.table_name(None), "orders");
        assert_eq!(
            catalog(&[]).table_name(Some("db/public/Line_Items")),
            "line_items"
        );
    }

    #[test]
    fn iceberg_catalogs_need_their_fields() {
        let sql: Catalog = serde_json::from_str(
            r#"{"type": "sql", "uri": "sqlite:////tmp/c.db", "warehouse": "/tmp/wh", "database": "shop"}"#,
        )
        .unwrap();
        assert_eq!(sql.name, "dbsnaplake");
        sql.check("/tmp/lake", OutputFormat::Iceberg).unwrap();
        let e = sql.check("/tmp/lake", OutputFormat::Parquet).unwrap_err();
        assert!(e.contains("set output.format to iceberg"), "{e}");
        let mut c = sql.clone();
        c.uri = Some("sqlite:///c.db".into());
        let e = c.check("/tmp/lake", OutputFormat::Iceberg).unwrap_err();
        assert!(e.contains("relative file"), "{e}");
        c.uri = Some("postgresql://h/db".into());
        let e = c.check("/tmp/lake", OutputFormat::Iceberg).unwrap_err();
        assert!(e.contains("runs on SQLite"), "{e}");
        let mut c = sql.clone();
        c.warehouse = None;
        let e = c.check("/tmp/lake", OutputFormat::Iceberg).unwrap_err();
        assert!(e.starts_with("catalog.warehouse"), "{e}");
        let mut glue = sql;
        glue.kind = CatalogKind::Glue;
        glue.uri = None;
        let e = glue
            .check("s3://b/lake", OutputFormat::Iceberg)
            .unwrap_err();
        assert!(e.contains("give an s3:// warehouse"), "{e}");
        glue.warehouse = Some("s3://b/wh".into());
        glue.check("s3://b/lake", OutputFormat::Iceberg).unwrap();
        let e = glue
            .check("s3://b/lake", OutputFormat::Parquet)
            .unwrap_err();
        assert!(e.contains("holds Iceberg metadata"), "{e}");
    }
}
