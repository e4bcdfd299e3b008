//! lakejob's engine: the DataFusion session, the lake and its zones, readers that route bad
//! rows to quarantine, Delta and Parquet writers, and the traits adapters implement (catalog,
//! clock; object stores are `object_store`'s trait). It names no cloud service.

pub mod catalog;
pub mod clock;
mod delta_files;
pub mod distributed;
pub mod error;
pub mod exit;
pub mod failpoint;
pub mod functions;
pub mod history;
pub mod incoming;
pub mod ingest;
pub mod lake;
pub mod ledger;
pub mod maintain;
pub mod parallel;
pub mod query;
pub mod reader;
mod remote;
pub mod session;
pub mod staging;
pub mod sync;
pub mod types;
pub mod writer;

pub use catalog::{
    Catalog, CatalogTable, ColumnDefinition, PartitionValues, TableDefinition, TableFormat,
    TableName,
};
pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{EngineError, Result};
pub use exit::ExitClass;
pub use lake::{Lake, RawFile, RawListing, RefusedFile, STATE_DIR, Zone};
pub use session::{Cluster, SessionOptions, new_session, parse_byte_size, plan_session};
pub use sync::{CatalogSync, SyncChange, SyncMetrics};
pub use writer::{TableWrite, WriteMetrics, WriteMode};

/// Re-exported so every crate uses the same versions.
pub use datafusion;
pub use deltalake;
pub use object_store;
