//! The engine's one error type. Every variant names what a person needs to find the problem.

use datafusion::error::DataFusionError;

/// A boxed error from an adapter (catalog, object store) the engine does not know.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A file or pattern offered on the command line cannot be taken.
    #[error("{path}: {reason}")]
    Offered {
        /// The file, folder or pattern as the user gave it.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The lake location cannot be used.
    #[error("lake {location}: {reason}")]
    Lake {
        /// The location as the user gave it.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing the lake's storage failed.
    #[error("storage error at {path}: {source}")]
    Storage {
        /// The object or prefix involved.
        path: String,
        /// The object store's error.
        source: object_store::Error,
    },
    /// A declared schema or expression is invalid.
    #[error("invalid declaration in {context}: {reason}")]
    Declaration {
        /// Where the declaration is (`source.columns[3]`, `reject_when[0]`).
        context: String,
        /// What is wrong.
        reason: String,
    },
    /// A query or plan failed.
    #[error("{context}: {source}")]
    DataFusion {
        /// What the engine was doing.
        context: String,
        /// DataFusion's error.
        source: Box<DataFusionError>,
    },
    /// An operator that cannot spill needed more memory than the limit leaves it.
    #[error(
        "{context}: the run needs more memory than --memory-limit leaves it (a sort merging its spilled runs, a join's build side); raise --memory-limit (LAKEJOB_MEMORY_LIMIT) or run fewer jobs at once. {source}"
    )]
    MemoryLimit {
        /// What the engine was doing.
        context: String,
        /// DataFusion's error.
        source: Box<DataFusionError>,
    },
    /// A Delta operation failed.
    #[error("delta table {table}: {source}")]
    Delta {
        /// The table, as `zone.table`.
        table: String,
        /// delta-rs' error.
        source: Box<deltalake::DeltaTableError>,
    },
    /// Another run committed to the table first, changing what this write read (a merge's
    /// matches, the partitions it replaces), so it cannot be applied on top blindly.
    #[error(
        "delta table {table}: another run committed to it first ({source}); nothing of this run was committed to it: run again to apply it to the new version"
    )]
    CommitConflict {
        /// The table, as `zone.table`.
        table: String,
        /// delta-rs' conflict.
        source: Box<deltalake::DeltaTableError>,
    },
    /// A job's output no longer fits the table it writes: a column dropped, a type changed, or a
    /// new column that may not be null.
    #[error(
        "delta table {table} cannot take this output: {}. A table evolves only by new nullable columns; write a changed shape to a new table (another target path) or back the old table up and delete it",
        problems.join("; ")
    )]
    SchemaChange {
        /// The table, as `zone.table`.
        table: String,
        /// Each difference, said for a person.
        problems: Vec<String>,
    },
    /// The catalog adapter failed.
    #[error("catalog: {operation} {table}: {source}")]
    Catalog {
        /// What was attempted (`register`, `add partitions to`, `read`).
        operation: &'static str,
        /// The table, as `database.table`.
        table: String,
        /// The adapter's error.
        source: BoxError,
    },
    /// A table is not in the catalog.
    #[error("table {0} is not in the catalog; `lakejob tables` lists the registered tables")]
    TableNotFound(String),
    /// A worker task failed to complete.
    #[error("internal task failed: {0}")]
    Task(String),
}

impl EngineError {
    /// Wraps a DataFusion error with what the engine was doing.
    pub fn datafusion(context: impl Into<String>) -> impl FnOnce(DataFusionError) -> Self {
        let context = context.into();
        move |source| match source.find_root() {
            DataFusionError::ResourcesExhausted(_) => EngineError::MemoryLimit {
                context,
                source: Box::new(source),
            },
            _ => EngineError::DataFusion {
                context,
                source: Box::new(source),
            },
        }
    }

    /// Wraps a Delta error with the table it concerns.
    pub fn delta(table: impl Into<String>) -> impl FnOnce(deltalake::DeltaTableError) -> Self {
        let table = table.into();
        move |source| EngineError::Delta {
            table,
            source: Box::new(source),
        }
    }

    /// Wraps an object-store error with the path it concerns.
    pub fn storage(path: impl Into<String>) -> impl FnOnce(object_store::Error) -> Self {
        let path = path.into();
        move |source| EngineError::Storage { path, source }
    }

    /// True when the user's input or configuration is at fault (exit code 2), not the system.
    /// Every variant is classed here on purpose: a retry of bad input fails the same way.
    pub fn is_bad_input(&self) -> bool {
        match self {
            EngineError::Lake { .. }
            | EngineError::Offered { .. }
            | EngineError::Declaration { .. }
            | EngineError::SchemaChange { .. }
            | EngineError::TableNotFound(_)
            | EngineError::MemoryLimit { .. } => true,
            EngineError::DataFusion { source, .. } => is_deterministic(source),
            EngineError::Delta { source, .. } => delta_is_deterministic(source),
            // The store, the catalog service or a worker may answer next time; a conflict
            // with another run is applied on top of it by the next run.
            EngineError::Storage { .. }
            | EngineError::CommitConflict { .. }
            | EngineError::Catalog { .. }
            | EngineError::Task(_) => false,
        }
    }
}

/// A Delta error that the table's or the data's shape causes, not the store: the same on
/// every retry.
fn delta_is_deterministic(error: &deltalake::DeltaTableError) -> bool {
    use deltalake::DeltaTableError as Delta;
    match error {
        Delta::Arrow { source } => is_data_error(source),
        Delta::InvalidData { .. }
        | Delta::SchemaMismatch { .. }
        | Delta::PartitionError { .. }
        | Delta::InvalidPartitionFilter { .. }
        | Delta::NotATable(_)
        | Delta::NoSchema
        | Delta::MissingFeature { .. }
        | Delta::InvalidTableLocation(_)
        | Delta::InvalidDateTimeString { .. } => true,
        _ => false,
    }
}

/// An arrow error of the data (a value a CAST or an arithmetic operation cannot take).
fn is_data_error(error: &datafusion::arrow::error::ArrowError) -> bool {
    use datafusion::arrow::error::ArrowError;
    matches!(
        error,
        ArrowError::CastError(_)
            | ArrowError::ComputeError(_)
            | ArrowError::InvalidArgumentError(_)
            | ArrowError::DivideByZero
            | ArrowError::ArithmeticOverflow(_)
            | ArrowError::ParseError(_)
    )
}

/// An error of the plan (its SQL, names, types) or of the data (a value a CAST or an
/// arithmetic operation cannot take): running again gives the same error, so it is the job's
/// or the data's to fix, not worth a retry. The cause may be wrapped (shared between
/// partitions, boxed as an external error), so the whole chain is looked at.
fn is_deterministic(error: &DataFusionError) -> bool {
    use datafusion::arrow::error::ArrowError;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = cause {
        let found = match error.downcast_ref::<DataFusionError>() {
            Some(DataFusionError::Plan(_) | DataFusionError::SQL(..))
            | Some(DataFusionError::SchemaError(..)) => true,
            Some(DataFusionError::ArrowError(arrow, _)) => is_data_error(arrow),
            _ => error
                .downcast_ref::<ArrowError>()
                .is_some_and(is_data_error),
        };
        if found {
            return true;
        }
        cause = error.source();
    }
    false
}

/// The engine's result type.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_is_bad_input_or_retryable_on_purpose() {
        let table = || "processed.t".to_string();
        let store = || object_store::Error::Generic {
            store: "S3",
            source: "503 Slow Down".into(),
        };
        let bad_input = [
            EngineError::Declaration {
                context: "target processed.t".into(),
                reason: "merge needs a key".into(),
            },
            EngineError::TableNotFound(table()),
            EngineError::datafusion("running the steps")(DataFusionError::Plan(
                "no column x".into(),
            )),
            EngineError::delta(&table())(deltalake::DeltaTableError::SchemaMismatch {
                msg: "a column changed type".into(),
            }),
            EngineError::delta(&table())(deltalake::DeltaTableError::Arrow {
                source: datafusion::arrow::error::ArrowError::CastError("'x' to int".into()),
            }),
        ];
        let retryable = [
            EngineError::storage("raw/a.csv")(store()),
            EngineError::Task("a worker stopped".into()),
            EngineError::delta(&table())(deltalake::DeltaTableError::ObjectStore {
                source: store(),
            }),
            EngineError::datafusion("reading")(DataFusionError::ObjectStore(Box::new(store()))),
        ];
        for error in bad_input {
            assert!(error.is_bad_input(), "{error:?}");
        }
        for error in retryable {
            assert!(!error.is_bad_input(), "{error:?}");
        }
    }

    #[test]
    fn memory_exhausted_under_the_limit_says_so_and_is_not_retried() {
        let exhausted = DataFusionError::ResourcesExhausted("Failed to allocate 3 MB".into());
        let shared = DataFusionError::Shared(std::sync::Arc::new(exhausted));
        let error = EngineError::datafusion("running the steps")(shared);
        assert!(
            matches!(error, EngineError::MemoryLimit { .. }),
            "{error:?}"
        );
        assert!(error.is_bad_input());
        assert!(
            error.to_string().contains("raise --memory-limit"),
            "{error}"
        );
    }
}
