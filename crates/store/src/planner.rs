//! Planner statistics on PostgreSQL, kept fresh by the writers themselves.
//!
//! PostgreSQL plans a query from statistics that `ANALYZE` gathers, which autovacuum runs a
//! minute or more after a table has grown by a tenth (and never where it is turned off). A
//! table that grew from nothing in a bulk load is planned as if it were still empty: measured
//! on loopback with autovacuum off, a TAXII load ran at 912 objects/s at 100,000 objects (each
//! write's lookup of the versions held scanned the table), and a page of 100 took 91 ms
//! instead of 0.14 ms. So a writer counts the rows it adds to a large table and, when they
//! reach half of what the table held at its last analysis (at least `FIRST`), analyzes it in
//! the background: about `log2` of the growth analyses in all, each a sample of at most
//! 30,000 rows. PostgreSQL drops cached plans of an analyzed table, so the next query is
//! planned afresh. SQLite plans these queries from their indexes alone and needs none of this.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::{Backend, Store};

/// Rows written before a table's first analysis by this process.
const FIRST: u64 = 1_000;

/// Rows written to each table since it was last analyzed, and its size then.
#[derive(Debug, Default)]
pub(crate) struct Growth(Mutex<HashMap<&'static str, (u64, u64)>>);

impl Store {
    /// Notes that `rows` were added to `table` (a name this crate writes, never user input);
    /// analyzes it in the background when it has grown enough since its last analysis.
    pub(crate) fn grew(&self, table: &'static str, rows: usize) {
        if self.backend != Backend::Postgres || rows == 0 {
            return;
        }
        let due = {
            let Ok(mut growth) = self.growth.0.lock() else {
                return;
            };
            let (added, size) = growth.entry(table).or_insert((0, 0));
            *added += rows as u64;
            if *added < FIRST.max(*size / 2) {
                false
            } else {
                // Counted from now; the size is read once the analysis is done.
                *size += *added;
                *added = 0;
                true
            }
        };
        if !due {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let sql = format!("ANALYZE {table}");
            match sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&store.pool)
                .await
            {
                Ok(_) => {
                    let rows: Option<f32> =
                        sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE relname = $1")
                            .bind(table)
                            .fetch_optional(&store.pool)
                            .await
                            .ok()
                            .flatten();
                    if let (Some(rows), Ok(mut growth)) = (rows, store.growth.0.lock()) {
                        growth.entry(table).or_default().1 = rows.max(0.0) as u64;
                    }
                    tracing::debug!(table, ms = started.elapsed().as_millis() as u64, "analyzed");
                }
                Err(e) => tracing::warn!(table, error = %e, "could not analyze"),
            }
        });
    }
}
