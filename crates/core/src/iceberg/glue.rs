//! Iceberg tables in the Glue Data Catalog, as Athena, EMR and pyiceberg
//! keep them: an `EXTERNAL_TABLE` whose parameters say `table_type =
//! ICEBERG` and hold `metadata_location`. A commit is an `UpdateTable` at
//! the table's `VersionId` read, made only if `metadata_location` is still
//! the one this commit started from.

use async_trait::async_trait;
use aws_sdk_glue::Client;
use aws_sdk_glue::types::{Column, StorageDescriptor, TableInput};

use super::{Held, Pointers};
use crate::catalog::{ensure_database, glue_client, glue_error};
use crate::config::Catalog;
use crate::error::{Error, Result};
use crate::steps::Run;

/// The Glue catalog of one database.
pub struct GlueCatalog {
    glue: Client,
    database: String,
}

impl GlueCatalog {
    /// The client of `run`'s region and endpoint.
    pub async fn new(run: &Run, catalog: &Catalog) -> Self {
        GlueCatalog {
            glue: glue_client(run).await,
            database: catalog.database.clone(),
        }
    }
}

fn input(
    table: &str,
    new: &str,
    previous: Option<&str>,
    location: &str,
    columns: &[(String, String)],
) -> Result<TableInput> {
    let mut sd = StorageDescriptor::builder().location(location);
    for (n, t) in columns {
        sd = sd.columns(
            Column::builder()
                .name(n.to_ascii_lowercase())
                .r#type(t)
                .build()
                .map_err(|e| Error::Internal(e.to_string()))?,
        );
    }
    let mut t = TableInput::builder()
        .name(table)
        .table_type("EXTERNAL_TABLE")
        .storage_descriptor(sd.build())
        .parameters("table_type", "ICEBERG")
        .parameters("metadata_location", new)
        .parameters("EXTERNAL", "TRUE");
    if let Some(p) = previous {
        t = t.parameters("previous_metadata_location", p);
    }
    t.build().map_err(|e| Error::Internal(e.to_string()))
}

#[async_trait]
impl Pointers for GlueCatalog {
    async fn ensure_namespace(&self) -> Result<()> {
        ensure_database(&self.glue, &self.database).await
    }

    async fn load(&self, table: &str) -> Result<Option<Held>> {
        let db = &self.database;
        let out = match self
            .glue
            .get_table()
            .database_name(db)
            .name(table)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(glue_error(format!("GetTable {db}.{table}"), e)),
        };
        let Some(t) = out.table() else {
            return Ok(None);
        };
        let params = t.parameters().cloned().unwrap_or_default();
        let iceberg = params
            .get("table_type")
            .is_some_and(|v| v.eq_ignore_ascii_case("ICEBERG"));
        match (iceberg, params.get("metadata_location")) {
            (true, Some(location)) => Ok(Some(Held {
                location: location.clone(),
                version: t.version_id().map(str::to_string),
            })),
            _ => Err(Error::Validation(format!(
                "Glue table {db}.{table} exists and is not an Iceberg table; name the lake table differently in catalog.tables"
            ))),
        }
    }

    async fn swap(
        &self,
        table: &str,
        held: Option<&Held>,
        new: &str,
        location: &str,
        columns: &[(String, String)],
    ) -> Result<bool> {
        let db = &self.database;
        let Some(h) = held else {
            let input = input(table, new, None, location, columns)?;
            return match self
                .glue
                .create_table()
                .database_name(db)
                .table_input(input)
                .send()
                .await
            {
                Ok(_) => Ok(true),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_already_exists_exception()) =>
                {
                    Ok(false)
                }
                Err(e) => Err(glue_error(format!("CreateTable {db}.{table}"), e)),
            };
        };
        // Glue checks VersionId; the pointer is checked too, for a catalog
        // that does not.
        match self.load(table).await? {
            Some(now) if now.location == h.location => {}
            _ => return Ok(false),
        }
        let input = input(table, new, Some(&h.location), location, columns)?;
        let mut call = self
            .glue
            .update_table()
            .database_name(db)
            .table_input(input);
        if let Some(v) = &h.version {
            call = call.version_id(v);
        }
        match call.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_concurrent_modification_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(glue_error(format!("UpdateTable {db}.{table}"), e)),
        }
    }
}
