//! Where the lake is registered once it validates (`catalog`).
//!
//! ```json
//! "catalog": {"type": "glue", "database": "shop",
//!             "tables": {"mydb/public/orders": "orders", "*": "orders"},
//!             "partitions": "projection", "athena_types": "refuse"}
//! ```
//!
//! Names are checked as the job is read: Glue lowercases them, so two lake
//! tables whose Glue names differ only in case are refused naming both, and
//! so is a name Athena cannot hold.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::table::check_table_key;

/// The catalog the lake is registered in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// The kind of catalog: `glue`, the AWS Glue Data Catalog.
    #[serde(rename = "type")]
    pub kind: CatalogKind,
    /// The Glue database of the lake's tables, created if missing.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatalogKind {
    /// The AWS Glue Data Catalog.
    Glue,
}

/// How a registered table's partitions are found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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

    /// Checks names and the datalake (`datalake`, the job's), and that the
    /// lake is Parquet.
    pub fn check(&self, datalake: &str, parquet: bool) -> Result<(), String> {
        if !datalake.starts_with("s3://") {
            return Err(format!(
                "catalog: the Glue catalog points readers at S3, but datalake is {datalake:?}: \
                 give an s3:// datalake"
            ));
        }
        if !parquet {
            return Err("catalog: registers Parquet lakes; set output.format to parquet".into());
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
        let e = c.check("s3://b/lake", true).unwrap_err();
        assert!(
            e.contains("a/b/Orders and a/b/orders2 are both \"orders\""),
            "{e}"
        );
        let e = catalog(&[("a/b/c", "my-table")])
            .check("s3://b/lake", true)
            .unwrap_err();
        assert!(e.contains("\"my-table\" is not a name Athena holds"), "{e}");
        let e = catalog(&[]).check("/tmp/lake", true).unwrap_err();
        assert!(e.contains("datalake is \"/tmp/lake\""), "{e}");
        let c = catalog(&[("*", "Orders")]);
        c.check("s3://b/lake", true).unwrap();
        assert_eq!(c.table_name(None), "orders");
        assert_eq!(
            catalog(&[]).table_name(Some("db/public/Line_Items")),
            "line_items"
        );
    }
}
