//! Public ids of reports, alerts and incidents: random, so that an id says nothing of how many
//! were made before it (an organization that filed report 41 yesterday and 57 today would
//! otherwise learn that others filed 15 in between). The order rows were made in is kept apart,
//! in a `seq` column that never leaves the store (see migration 0008).

use rand::Rng;

use crate::StoreError;
use crate::write::WriteTx;

/// The smallest id drawn: above every sequential id a database made before 0008 holds.
pub(crate) const FIRST: i64 = 1 << 32;
/// One past the largest id drawn: ids stay exact as JSON numbers (JavaScript's safe integers).
pub(crate) const END: i64 = 1 << 53;

/// Draws to try before giving up: with a billion rows, a draw is taken once in nine million.
const DRAWS: usize = 8;

/// A table whose rows get random public ids.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Table {
    Reports,
    Alerts,
    Incidents,
    ExerciseRuns,
    ExerciseActions,
    ExerciseShares,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Reports => "reports",
            Table::Alerts => "alerts",
            Table::Incidents => "incidents",
            Table::ExerciseRuns => "exercise_runs",
            Table::ExerciseActions => "exercise_actions",
            Table::ExerciseShares => "exercise_shares",
        }
    }
}

/// A random id in [`FIRST`, `END`).
pub(crate) fn random_id() -> i64 {
    rand::rng().random_range(FIRST..END)
}

impl WriteTx {
    /// A random id that no row of `table` has. Writers are serialized (see `write.rs`), so it
    /// stays free until this transaction inserts it; were that ever not so, the primary key
    /// would refuse the second insert rather than share an id.
    pub(crate) async fn fresh_id(&mut self, table: Table) -> Result<i64, StoreError> {
        let sql = match table {
            Table::Reports => "SELECT COUNT(*) FROM reports WHERE id = $1",
            Table::Alerts => "SELECT COUNT(*) FROM alerts WHERE id = $1",
            Table::Incidents => "SELECT COUNT(*) FROM incidents WHERE id = $1",
            Table::ExerciseRuns => "SELECT COUNT(*) FROM exercise_runs WHERE id = $1",
            Table::ExerciseActions => "SELECT COUNT(*) FROM exercise_actions WHERE id = $1",
            Table::ExerciseShares => "SELECT COUNT(*) FROM exercise_shares WHERE id = $1",
        };
        for _ in 0..DRAWS {
            let id = random_id();
            let taken: i64 = sqlx::query_scalar(sql)
                .bind(id)
                .fetch_one(&mut *self.tx)
                .await?;
            if taken == 0 {
                return Ok(id);
            }
        }
        Err(StoreError::Corrupt(format!(
            "{DRAWS} random ids in a row are taken in {}: is the random source broken?",
            table.name()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_exact_in_json_and_above_old_sequences() {
        for _ in 0..10_000 {
            let id = random_id();
            assert!((FIRST..END).contains(&id));
            // f64 holds it exactly, as a JavaScript Number does.
            assert_eq!(id as f64 as i64, id);
        }
    }
}
