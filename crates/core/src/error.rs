//! The one error type of the core.
//!
//! Every variant names what is at fault: the URI of the file, the job field, the
//! table and partition. [`Error::kind`] tells a caller (the CLI's exit code, the
//! Lambda error name Step Functions retries on) whether trying again can help.

use std::fmt;

/// `Result` with the core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is, for retry decisions and exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Trying again may succeed (throttling, timeouts, connection resets).
    Transient,
    /// The job, a manifest or a data file is wrong; trying again cannot help.
    BadInput,
    /// The pipeline ran but the lake does not match the snapshot.
    Validation,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Transient => "Transient",
            ErrorKind::BadInput => "BadInput",
            ErrorKind::Validation => "Validation",
        })
    }
}

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The job document is invalid; the message names the field.
    #[error("invalid job: {0}")]
    Job(String),
    /// An object or file that should exist does not.
    #[error("{uri}: not found")]
    NotFound {
        /// The missing object.
        uri: String,
    },
    /// Reading or writing an object failed.
    #[error("{uri}: {source}")]
    Io {
        /// The object at fault.
        uri: String,
        /// What the operating system or the service said.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid Parquet, or could not be decoded or encoded.
    #[error("{uri}: {source}")]
    Parquet {
        /// The file at fault.
        uri: String,
        /// What the Parquet library said.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A storage service call failed (after retries, when it was retryable).
    #[error("{uri}: {message}")]
    Storage {
        /// The object or prefix at fault (`s3://bucket/key`).
        uri: String,
        /// What the service said.
        message: String,
        /// Whether trying again later may succeed (throttling, 5xx, timeouts).
        transient: bool,
    },
    /// A call to another AWS service (Step Functions, a catalog) failed.
    #[error("{call}: {message}")]
    Service {
        /// The call and what it was on (`StartExecution on arn:…`).
        call: String,
        /// What the service said.
        message: String,
        /// Whether trying again later may succeed (throttling, 5xx, timeouts).
        transient: bool,
    },
    /// Data or a manifest is malformed.
    #[error("{uri}: {message}")]
    BadData {
        /// The file at fault.
        uri: String,
        /// What is wrong with it.
        message: String,
    },
    /// Two files of one table disagree on the schema, or a column is unusable.
    #[error("table {table}: {message}")]
    Schema {
        /// The table (`database/schema/table`, or `*` for a table-less snapshot).
        table: String,
        /// What is wrong.
        message: String,
    },
    /// The produced lake does not match the snapshot.
    #[error("validation failed: {0}")]
    Validation(String),
    /// A URI scheme or feature this build does not support.
    #[error("{0}")]
    Unsupported(String),
    /// A bug in dbsnaplake (a worker panicked); please report it.
    #[error("internal error (a bug, please report it): {0}")]
    Internal(String),
}

impl Error {
    /// The kind of failure: whether a retry may help.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { source, .. } if is_transient_io(source) => ErrorKind::Transient,
            Error::Storage {
                transient: true, ..
            }
            | Error::Service {
                transient: true, ..
            } => ErrorKind::Transient,
            Error::Validation(_) => ErrorKind::Validation,
            _ => ErrorKind::BadInput,
        }
    }

    /// Wraps a Parquet error with the URI of the file it came from.
    pub(crate) fn parquet(uri: &str, source: parquet::errors::ParquetError) -> Self {
        Error::Parquet {
            uri: uri.to_string(),
            source,
        }
    }

    /// Wraps an Arrow error raised while working on `uri`.
    pub(crate) fn arrow(uri: &str, source: arrow::error::ArrowError) -> Self {
        Error::BadData {
            uri: uri.to_string(),
            message: source.to_string(),
        }
    }

    pub(crate) fn bad_data(uri: &str, message: impl Into<String>) -> Self {
        Error::BadData {
            uri: uri.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn io(uri: &str, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound {
                uri: uri.to_string(),
            }
        } else {
            Error::Io {
                uri: uri.to_string(),
                source,
            }
        }
    }
}

fn is_transient_io(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::Interrupted
            | K::TimedOut
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::BrokenPipe
            | K::WouldBlock
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let reset = Error::io(
            "a",
            std::io::Error::from(std::io::ErrorKind::ConnectionReset),
        );
        assert_eq!(reset.kind(), ErrorKind::Transient);
        let missing = Error::io(
            "s3://b/k",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert_eq!(missing.to_string(), "s3://b/k: not found");
        assert_eq!(missing.kind(), ErrorKind::BadInput);
        assert_eq!(Error::Validation("x".into()).kind(), ErrorKind::Validation);
    }
}
