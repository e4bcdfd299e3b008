//! `lakejob quality check <db.table>`: the rules of the job that writes a table, evaluated on
//! demand over what the table holds now.

use chrono::{NaiveDate, Utc};
use lakejob_engine::query::DeltaReads;
use lakejob_engine::{Catalog, SessionOptions, TableName, new_session};
use lakejob_quality::QualityReport;

use crate::JobsError;
use crate::quality_log::prepare_rule_inputs;
use crate::registry::JobRegistry;
use crate::runner::end_of_date;

/// Evaluates the quality rules of the job whose target is `table` over the table's rows;
/// freshness is measured at the end of `date` (default: now), row-count changes against the
/// last published run.
pub async fn check_table(
    catalog: &dyn Catalog,
    registry: &JobRegistry,
    table: &TableName,
    session: &SessionOptions,
    date: Option<NaiveDate>,
) -> Result<QualityReport, JobsError> {
    let entry = registry
        .entries()
        .find(|e| e.spec.target.zone == table.database && e.spec.target.table == table.table)
        .ok_or_else(|| {
            let mut known: Vec<String> = registry
                .entries()
                .map(|e| format!("{}.{}", e.spec.target.zone, e.spec.target.table))
                .collect();
            known.sort();
            JobsError::NoJobWrites {
                table: table.to_string(),
                known,
            }
        })?;
    let engine = |source| JobsError::Engine {
        job: entry.spec.name.clone(),
        source,
    };
    let ctx = new_session(session).map_err(engine)?;
    let registered =
        lakejob_engine::query::register_catalog_tables(&ctx, catalog, DeltaReads::Native)
            .await
            .map_err(engine)?;
    if !registered.contains(table) {
        return Err(engine(lakejob_engine::EngineError::TableNotFound(
            table.to_string(),
        )));
    }
    let baseline = prepare_rule_inputs(&ctx, catalog, &entry.spec.quality, &table.to_string())
        .await
        .map_err(engine)?;
    let name = table.to_string();
    lakejob_quality::Evaluation::new(&ctx, &name, &entry.spec.quality)
        .with_reference_time(end_of_date(date).unwrap_or_else(Utc::now))
        .with_baseline(baseline)
        .execute()
        .await
        .map_err(|source| JobsError::Quality {
            job: entry.spec.name.clone(),
            source,
        })
}
