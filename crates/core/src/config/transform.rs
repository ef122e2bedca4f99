//! The job's transform steps (`tables.<table>.transform`), as the job
//! spells them; [`crate::transform`] applies them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A transform step of the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Renames columns: `{"old": "new", …}`.
    Rename(BTreeMap<String, String>),
    /// Drops columns.
    Drop(Vec<String>),
    /// Casts columns to types: `{"amount": "decimal(12,2)"}`. Types:
    /// `bool`, `int8`…`int64`, `uint8`…`uint64`, `float32`, `float64`,
    /// `string`, `date`, `timestamp[s|ms|us|ns]`, `decimal(p,s)`, or any
    /// Arrow type name (`Timestamp(µs, "UTC")`).
    Cast(BTreeMap<String, String>),
    /// Adds (or replaces) a column computed from another.
    Derive(Derive),
    /// Keeps only the rows the predicate holds for (a null is not true).
    Filter(Predicate),
}

/// A derived column: `name = fn(from)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Derive {
    /// The new column.
    pub name: String,
    /// The column it derives from.
    pub from: String,
    /// The function.
    #[serde(rename = "fn")]
    pub func: DeriveFn,
    /// For `truncate`: `year`, `month`, `day`, `hour`, `minute` or `second`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<TruncUnit>,
    /// For `substring`: the first character, from 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<usize>,
    /// For `substring`: how many characters (default: to the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<usize>,
    /// For `hash_bucket`: the number of buckets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// For `parse_timestamp`: a strftime format (`%d/%m/%Y %H:%M`); a format
    /// without a time gives midnight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// Functions of [`Derive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeriveFn {
    /// Year as an integer (timestamps, dates, ISO-8601 strings).
    Year,
    /// Month, 1–12.
    Month,
    /// Day of month, 1–31.
    Day,
    /// Hour, 0–23.
    Hour,
    /// The date (a `date` column).
    Date,
    /// The value as text.
    Value,
    /// A timestamp truncated to `unit`.
    Truncate,
    /// `length` characters of a string from `start`.
    Substring,
    /// A stable bucket number in `0..n` from a hash of the value (nulls: null).
    HashBucket,
    /// A timestamp (µs, no zone) parsed from text with `format`.
    ParseTimestamp,
}

/// Units of `truncate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TruncUnit {
    /// January 1st, 00:00.
    Year,
    /// The 1st, 00:00.
    Month,
    /// 00:00.
    Day,
    /// :00:00.
    Hour,
    /// :00.
    Minute,
    /// Whole seconds.
    Second,
}

/// A filter condition: a comparison, or `and` / `or` of conditions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Predicate {
    /// All of these hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and: Option<Vec<Predicate>>,
    /// Any of these holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub or: Option<Vec<Predicate>>,
    /// The column compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The comparison.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<Op>,
    /// What the column is compared with (a list for `in` and `not in`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

/// Comparisons of a [`Predicate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Op {
    /// Equal.
    #[serde(rename = "=")]
    Eq,
    /// Not equal.
    #[serde(rename = "!=")]
    Ne,
    /// Less than.
    #[serde(rename = "<")]
    Lt,
    /// Less than or equal.
    #[serde(rename = "<=")]
    Le,
    /// Greater than.
    #[serde(rename = ">")]
    Gt,
    /// Greater than or equal.
    #[serde(rename = ">=")]
    Ge,
    /// One of a list.
    #[serde(rename = "in")]
    In,
    /// None of a list.
    #[serde(rename = "not in")]
    NotIn,
    /// Null.
    #[serde(rename = "is null")]
    IsNull,
    /// Not null.
    #[serde(rename = "is not null")]
    IsNotNull,
}

impl Step {
    /// Checks the parts of a step that need no schema (called by `Job::check`).
    pub fn check(&self) -> Result<(), String> {
        match self {
            Step::Cast(casts) => {
                for (col, t) in casts {
                    super::types::parse_type(t).map_err(|e| format!("cast {col}: {e}"))?;
                }
                Ok(())
            }
            Step::Derive(d) => d.check(),
            Step::Filter(p) => p.check(),
            Step::Rename(_) | Step::Drop(_) => Ok(()),
        }
    }

    /// The step's name in a job (`cast`).
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Rename(_) => "rename",
            Step::Drop(_) => "drop",
            Step::Cast(_) => "cast",
            Step::Derive(_) => "derive",
            Step::Filter(_) => "filter",
        }
    }
}

impl DeriveFn {
    /// The name a job uses (`hash_bucket`).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

impl Derive {
    fn check(&self) -> Result<(), String> {
        let need = |what: bool, field: &str| {
            if what {
                Ok(())
            } else {
                Err(format!(
                    "derive {}: fn {:?} needs `{field}`",
                    self.name,
                    self.func.name()
                ))
            }
        };
        match self.func {
            DeriveFn::Truncate => need(self.unit.is_some(), "unit"),
            DeriveFn::Substring => need(self.start.is_some(), "start"),
            DeriveFn::HashBucket => need(self.n.is_some_and(|n| n > 0), "n (at least 1)"),
            DeriveFn::ParseTimestamp => need(self.format.is_some(), "format"),
            _ => Ok(()),
        }
    }
}

impl Predicate {
    fn check(&self) -> Result<(), String> {
        match (&self.and, &self.or, &self.column) {
            (Some(all), None, None) => all.iter().try_for_each(Predicate::check),
            (None, Some(any), None) => any.iter().try_for_each(Predicate::check),
            (None, None, Some(col)) => {
                let op = self
                    .op
                    .ok_or_else(|| format!("filter on {col}: needs an `op`"))?;
                match (op, &self.value) {
                    (Op::IsNull | Op::IsNotNull, None) => Ok(()),
                    (Op::IsNull | Op::IsNotNull, Some(_)) => {
                        Err(format!("filter on {col}: {op:?} takes no `value`"))
                    }
                    (Op::In | Op::NotIn, Some(serde_json::Value::Array(_))) => Ok(()),
                    (Op::In | Op::NotIn, _) => {
                        Err(format!("filter on {col}: `in` and `not in` need a list `value`"))
                    }
                    (_, None | Some(serde_json::Value::Null)) => Err(format!(
                        "filter on {col}: needs a `value` (compare with null using \"is null\")"
                    )),
                    (_, Some(serde_json::Value::Array(_) | serde_json::Value::Object(_))) => {
                        Err(format!("filter on {col}: `value` must be a string, number or bool"))
                    }
                    _ => Ok(()),
                }
            }
            _ => Err("a filter is exactly one of {\"and\": [...]}, {\"or\": [...]} or {\"column\", \"op\", \"value\"}".into()),
        }
    }
}
