//! Correlation values: what the indexer found in each report, alert and STIX object, the items
//! that share a value, and how far the indexer has read. Indexing is bookkeeping derived from
//! records that are audited themselves: it is not audited.

use ciphub_domain::anonymize::{Identifier, IdentifierKind};
use ciphub_domain::correlation::{Kind, Observable};
use sqlx::Arguments as _;

use crate::{Store, StoreError};

/// Values written per statement.
const CHUNK: usize = 200;

/// An item whose values are indexed, with what the policy needs to know of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorrelationItem {
    /// `report:<id>`, `alert:<id>` or `stix:<collection>:<object id>`.
    pub item: String,
    pub org_id: i64,
    pub sectors: Vec<String>,
    pub exercise: bool,
}

/// One item holding a value.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct CorrelationRow {
    pub item: String,
    pub org_id: i64,
    /// Comma-separated.
    pub sectors: String,
    pub added_us: i64,
}

impl CorrelationRow {
    /// The sectors the item concerns.
    pub fn sector_list(&self) -> Vec<String> {
        self.sectors
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// A value held by more than one item, and by how many organizations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusyValue {
    pub value: Observable,
    pub items: i64,
    pub organizations: i64,
}

/// A report's text, for the indexer.
#[derive(Clone, Debug)]
pub struct ReportText {
    pub id: i64,
    pub updated_us: i64,
    pub org_id: i64,
    pub sectors: Vec<String>,
    /// Title, description and every stage's summary.
    pub text: String,
    /// Part of an exercise run.
    pub exercise: bool,
}

/// An alert's text, for the indexer.
#[derive(Clone, Debug)]
pub struct AlertText {
    pub id: i64,
    pub seq: i64,
    pub org_id: i64,
    pub exercise: bool,
    pub text: String,
}

/// A stored STIX object version, for the indexer.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StixText {
    pub seq: i64,
    pub collection: String,
    pub object_id: String,
    pub owner_org_id: i64,
    pub is_last: i64,
    pub body: String,
}

fn kind(s: &str) -> Result<Kind, StoreError> {
    Kind::parse(s).ok_or_else(|| StoreError::Corrupt(format!("correlation kind {s:?} is unknown")))
}

impl Store {
    /// Replaces the values `item` holds.
    pub async fn set_correlations(
        &self,
        item: &CorrelationItem,
        values: &[Observable],
    ) -> Result<(), StoreError> {
        let now = crate::clock::to_us(self.clock.now());
        let sectors = item.sectors.join(",");
        let mut tx = self.begin_plain().await?;
        sqlx::query("DELETE FROM correlation_values WHERE item = $1")
            .bind(&item.item)
            .execute(&mut *tx)
            .await?;
        for chunk in values.chunks(CHUNK) {
            let mut sql = self.insert_rows(
                "INSERT INTO correlation_values (kind, value, item, org_id, sectors, exercise, added_us)",
                chunk.len(),
                7,
            );
            let mut args = sqlx::any::AnyArguments::default();
            for v in chunk {
                (|| -> Result<(), sqlx::error::BoxDynError> {
                    args.add(v.kind.as_str())?;
                    args.add(v.value.as_str())?;
                    args.add(item.item.as_str())?;
                    args.add(item.org_id)?;
                    args.add(sectors.as_str())?;
                    args.add(i64::from(item.exercise))?;
                    args.add(now)
                })()
                .map_err(sqlx::Error::Encode)?;
            }
            sql.push_str(" ON CONFLICT DO NOTHING");
            sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.grew("correlation_values", values.len());
        Ok(())
    }

    /// Forgets every value of `item` (a deleted object).
    pub async fn clear_correlations(&self, item: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM correlation_values WHERE item = $1")
            .bind(item)
            .execute(&self.write_pool)
            .await?;
        Ok(())
    }

    /// The items (exercises left out) that hold `value`, newest first, at most `limit`.
    pub async fn items_holding(
        &self,
        value: &Observable,
        limit: u32,
    ) -> Result<Vec<CorrelationRow>, StoreError> {
        Ok(self
            .items_holding_each(std::slice::from_ref(value), limit)
            .await?
            .pop()
            .unwrap_or_default())
    }

    /// For each of `values`, the items (exercises left out) that hold it, newest first, at
    /// most `per_value` each: one round trip however many values.
    pub async fn items_holding_each(
        &self,
        values: &[Observable],
        per_value: u32,
    ) -> Result<Vec<Vec<CorrelationRow>>, StoreError> {
        let mut out: Vec<Vec<CorrelationRow>> = vec![Vec::new(); values.len()];
        for (chunk_no, chunk) in values.chunks(CHUNK).enumerate() {
            let mut sql = String::new();
            let mut args = sqlx::any::AnyArguments::default();
            for (i, v) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(" UNION ALL ");
                }
                let (kind_mark, value_mark) = (self.marks(i * 2 + 1, 1), self.marks(i * 2 + 2, 1));
                // The index and the limit are numbers this method makes, not input.
                sql.push_str(&format!(
                    "SELECT {i} AS n, t{i}.* FROM (SELECT item, org_id, sectors, added_us \
                     FROM correlation_values WHERE kind = {kind_mark} AND value = {value_mark} \
                     AND exercise = 0 ORDER BY added_us DESC, item LIMIT {per_value}) AS t{i}"
                ));
                (|| -> Result<(), sqlx::error::BoxDynError> {
                    args.add(v.kind.as_str())?;
                    args.add(v.value.as_str())
                })()
                .map_err(sqlx::Error::Encode)?;
            }
            let rows: Vec<(i64, String, i64, String, i64)> =
                sqlx::query_as_with(sqlx::AssertSqlSafe(sql), args)
                    .fetch_all(&self.pool)
                    .await?;
            for (n, item, org_id, sectors, added_us) in rows {
                let at = chunk_no * CHUNK + usize::try_from(n).unwrap_or(usize::MAX);
                if let Some(slot) = out.get_mut(at) {
                    slot.push(CorrelationRow {
                        item,
                        org_id,
                        sectors,
                        added_us,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The values `item` holds.
    pub async fn values_of(&self, item: &str) -> Result<Vec<Observable>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT kind, value FROM correlation_values WHERE item = $1 ORDER BY kind, value",
        )
        .bind(item)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(k, value)| {
                Ok(Observable {
                    kind: kind(&k)?,
                    value,
                })
            })
            .collect()
    }

    /// Values held by more than one item added since `since_us` (exercises left out), those
    /// held by the most organizations first.
    pub async fn busy_values(
        &self,
        since_us: i64,
        limit: u32,
    ) -> Result<Vec<BusyValue>, StoreError> {
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT kind, value, COUNT(*) AS n, COUNT(DISTINCT org_id) AS orgs FROM correlation_values \
             WHERE exercise = 0 AND added_us >= $1 GROUP BY kind, value HAVING COUNT(*) > 1 \
             ORDER BY orgs DESC, n DESC, kind, value LIMIT $2",
        )
        .bind(since_us)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(k, value, items, organizations)| {
                Ok(BusyValue {
                    value: Observable {
                        kind: kind(&k)?,
                        value,
                    },
                    items,
                    organizations,
                })
            })
            .collect()
    }

    /// How many values are indexed.
    pub async fn correlation_value_count(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM correlation_values")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// How far the indexer has read `source`: (position, tiebreak).
    pub async fn correlation_cursor(&self, source: &str) -> Result<(i64, i64), StoreError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT position, tiebreak FROM correlation_cursors WHERE source = $1")
                .bind(source)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.unwrap_or((i64::MIN, i64::MIN)))
    }

    /// Records how far the indexer has read `source`.
    pub async fn set_correlation_cursor(
        &self,
        source: &str,
        at: (i64, i64),
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO correlation_cursors (source, position, tiebreak) VALUES ($1, $2, $3) \
             ON CONFLICT (source) DO UPDATE SET position = excluded.position, tiebreak = excluded.tiebreak",
        )
        .bind(source)
        .bind(at.0)
        .bind(at.1)
        .execute(&self.write_pool)
        .await?;
        Ok(())
    }

    /// Reports changed after `after` (updated time, id), oldest first, with their text.
    pub async fn reports_to_correlate(
        &self,
        after: (i64, i64),
        limit: u32,
    ) -> Result<Vec<ReportText>, StoreError> {
        let rows: Vec<(i64, i64, i64, String, String, Option<i64>)> = sqlx::query_as(
            "SELECT id, updated_us, reporter_org_id, title, description, exercise_run_id FROM reports \
             WHERE updated_us > $1 OR (updated_us = $1 AND id > $2) ORDER BY updated_us, id LIMIT $3",
        )
        .bind(after.0)
        .bind(after.1)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, updated_us, org_id, title, description, run) in rows {
            let sectors: Vec<String> = sqlx::query_scalar(
                "SELECT sector FROM report_sectors WHERE report_id = $1 ORDER BY sector",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
            let stages: Vec<String> = sqlx::query_scalar(
                "SELECT summary FROM report_stages WHERE report_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
            let mut text = format!("{title}\n{description}");
            for s in stages {
                text.push('\n');
                text.push_str(&s);
            }
            out.push(ReportText {
                id,
                updated_us,
                org_id,
                sectors,
                text,
                exercise: run.is_some(),
            });
        }
        Ok(out)
    }

    /// Alerts sent after the one at `after_seq`, oldest first, with their text.
    pub async fn alerts_to_correlate(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AlertText>, StoreError> {
        let rows: Vec<(i64, i64, i64, i64, String, String)> = sqlx::query_as(
            "SELECT id, seq, sender_org_id, exercise, title, body FROM alerts WHERE seq > $1 \
             ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, seq, org_id, exercise, title, body)| AlertText {
                id,
                seq,
                org_id,
                exercise: exercise != 0,
                text: format!("{title}\n{body}"),
            })
            .collect())
    }

    /// STIX object versions stored after `after_seq`, oldest first.
    pub async fn stix_to_correlate(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StixText>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT seq, collection, object_id, owner_org_id, is_last, body FROM stix_objects \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    /// The sectors of the organization with database id `org_id`.
    pub async fn org_sectors_by_id(&self, org_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT sector FROM org_sectors WHERE org_id = $1 ORDER BY sector")
                .bind(org_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The registered identifiers of the organization with database id `org_id`.
    pub async fn identifiers_by_id(&self, org_id: i64) -> Result<Vec<Identifier>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT kind, value FROM org_identifiers WHERE org_id = $1")
                .bind(org_id)
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(k, value)| {
                Ok(Identifier {
                    kind: k
                        .parse::<IdentifierKind>()
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    value,
                })
            })
            .collect()
    }
}
