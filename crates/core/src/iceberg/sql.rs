//! The Iceberg SQL catalog on SQLite: the tables pyiceberg's `SqlCatalog`
//! and Java's JDBC catalog keep (`iceberg_tables`,
//! `iceberg_namespace_properties`), rows under the catalog's name. A commit
//! is one `UPDATE … WHERE metadata_location = <the one read>`, so of two
//! writers exactly one moves the pointer.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::{Held, Pointers};
use crate::config::Catalog;
use crate::config::catalog::sqlite_path;
use crate::error::{Error, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS iceberg_tables (
    catalog_name VARCHAR(255) NOT NULL,
    table_namespace VARCHAR(255) NOT NULL,
    table_name VARCHAR(255) NOT NULL,
    metadata_location VARCHAR(1000),
    previous_metadata_location VARCHAR(1000),
    iceberg_type VARCHAR(5),
    PRIMARY KEY (catalog_name, table_namespace, table_name)
);
CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (
    catalog_name VARCHAR(255) NOT NULL,
    namespace VARCHAR(255) NOT NULL,
    property_key VARCHAR(255) NOT NULL,
    property_value VARCHAR(1000) NOT NULL,
    PRIMARY KEY (catalog_name, namespace, property_key)
);";

/// An open SQL catalog.
pub struct SqlCatalog {
    db: Mutex<Connection>,
    path: String,
    name: String,
    namespace: String,
}

impl SqlCatalog {
    /// Opens (creating when missing) the catalog of `catalog.uri`.
    pub fn open(catalog: &Catalog) -> Result<Self> {
        let uri = catalog.uri.as_deref().unwrap_or_default();
        let path = sqlite_path(uri).map_err(Error::Job)?.to_string();
        let fail = |e: rusqlite::Error| sql_error(&path, e);
        if let Some(dir) = std::path::Path::new(&path).parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::Io {
                uri: dir.display().to_string(),
                source: e,
            })?;
        }
        let db = Connection::open(&path).map_err(fail)?;
        db.busy_timeout(Duration::from_secs(30)).map_err(fail)?;
        db.execute_batch(SCHEMA).map_err(fail)?;
        Ok(SqlCatalog {
            db: Mutex::new(db),
            path,
            name: catalog.name.clone(),
            namespace: catalog.database.clone(),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let db = self
            .db
            .lock()
            .expect("the catalog connection is not poisoned");
        f(&db).map_err(|e| sql_error(&self.path, e))
    }
}

fn sql_error(path: &str, e: rusqlite::Error) -> Error {
    let transient = matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    );
    Error::Service {
        call: format!("SQL catalog {path}"),
        message: e.to_string(),
        transient,
    }
}

#[async_trait]
impl Pointers for SqlCatalog {
    async fn ensure_namespace(&self) -> Result<()> {
        self.with(|db| {
            db.execute(
                "INSERT OR IGNORE INTO iceberg_namespace_properties \
                 (catalog_name, namespace, property_key, property_value) VALUES (?1, ?2, 'exists', 'true')",
                params![self.name, self.namespace],
            )
        })
        .map(|_| ())
    }

    async fn load(&self, table: &str) -> Result<Option<Held>> {
        let location: Option<Option<String>> = self.with(|db| {
            db.query_row(
                "SELECT metadata_location FROM iceberg_tables \
                 WHERE catalog_name = ?1 AND table_namespace = ?2 AND table_name = ?3",
                params![self.name, self.namespace, table],
                |r| r.get(0),
            )
            .optional()
        })?;
        match location {
            None => Ok(None),
            Some(Some(location)) => Ok(Some(Held {
                location,
                version: None,
            })),
            Some(None) => Err(Error::BadData {
                uri: self.path.clone(),
                message: format!(
                    "{}.{table} is in the catalog without metadata (a view?); name the lake table differently in catalog.tables",
                    self.namespace
                ),
            }),
        }
    }

    async fn swap(
        &self,
        table: &str,
        held: Option<&Held>,
        new: &str,
        _location: &str,
        _columns: &[(String, String)],
    ) -> Result<bool> {
        match held {
            None => {
                let inserted = self.with(|db| {
                    db.execute(
                        "INSERT OR IGNORE INTO iceberg_tables (catalog_name, table_namespace, table_name, \
                         metadata_location, previous_metadata_location, iceberg_type) VALUES (?1, ?2, ?3, ?4, NULL, 'TABLE')",
                        params![self.name, self.namespace, table, new],
                    )
                })?;
                Ok(inserted == 1)
            }
            Some(h) => {
                let updated = self.with(|db| {
                    db.execute(
                        "UPDATE iceberg_tables SET metadata_location = ?1, previous_metadata_location = ?2 \
                         WHERE catalog_name = ?3 AND table_namespace = ?4 AND table_name = ?5 AND metadata_location = ?2",
                        params![new, h.location, self.name, self.namespace, table],
                    )
                })?;
                Ok(updated == 1)
            }
        }
    }
}
