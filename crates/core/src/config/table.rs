//! Per-table settings (`tables.<database/schema/table>`): partitions, order, transforms.

use serde::{Deserialize, Serialize};

/// Settings of one table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    /// Hive partition keys, outermost first. Empty: one unpartitioned folder.
    #[serde(default)]
    pub partition_by: Vec<PartitionSpec>,
    /// Order of rows inside every staging and data lake file.
    #[serde(default)]
    pub sort_by: Vec<SortSpec>,
    /// Steps applied to every batch, in order, before partitioning
    /// ([`crate::transform`]); `partition_by` and `sort_by` name columns as
    /// they are after them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transform: Vec<super::transform::Step>,
}

/// One hive partition key: `<name>=<fn(from)>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartitionSpec {
    /// Name of the key in the path (`year` in `year=2024`).
    pub name: String,
    /// The column it derives from.
    pub from: String,
    /// How the value derives from the column.
    #[serde(rename = "fn")]
    pub func: PartitionFn,
}

/// How a partition value derives from a column. Timestamps, dates and ISO-8601
/// strings (`2024-03-05`, `2024-03-05 07:08:09.123456+00`, `…T…Z`) are
/// accepted by the calendar functions; strings with an offset are converted to
/// UTC first, timestamps with a time zone use that zone.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PartitionFn {
    /// Four-digit year: `2024`.
    Year,
    /// Two-digit month: `03`.
    Month,
    /// Two-digit day of month: `05`.
    Day,
    /// Two-digit hour: `07`.
    Hour,
    /// `YYYY-MM-DD`.
    Date,
    /// The column's value as text.
    Value,
}

/// One sort key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SortSpec {
    /// Column to sort by.
    pub column: String,
    /// Largest first (default: smallest first).
    #[serde(default)]
    pub descending: bool,
    /// Nulls before other values (default: nulls last).
    #[serde(default)]
    pub nulls_first: bool,
}

pub(super) fn check_table_key(key: &str) -> std::result::Result<(), String> {
    let parts: Vec<&str> = key.split('/').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(format!(
            "{key:?} is not a table name; write `database/schema/table` (or `*` for every table)"
        ));
    }
    Ok(())
}

pub(super) fn check_partition_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.starts_with('.') || name.starts_with('_') {
        return Err(format!(
            "{name:?} may not start with `.` or `_` (readers skip such folders)"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '/' | '=' | '%' | '\\') || c.is_control())
    {
        return Err(format!("{name:?} may not contain {c:?}"));
    }
    Ok(())
}
