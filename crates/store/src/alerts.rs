//! Alerts: storing them with one delivery row per recipient organization, the inbox, reading
//! and acknowledging, and the delivery table the sender sees.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use ciphub_domain::Slug;
use ciphub_domain::alert::{Audience, OrgFacts};
use ciphub_domain::registry::OrgKind;
use ciphub_domain::report::Tlp;
use serde_json::json;

use crate::clock::from_us;
use crate::users::UserRecord;
use crate::{By, Store, StoreError};
use sha2::Digest;

/// An alert as a sender writes it, already checked.
#[derive(Clone, Debug)]
pub struct NewAlert {
    pub title: String,
    pub body: String,
    pub tlp: Tlp,
    pub audience: Audience,
    /// AMBER only: recipients may pass it on to their clients.
    pub clients_permitted: bool,
    pub ack_within: Option<TimeDelta>,
    pub exercise: bool,
    pub reports: Vec<i64>,
    /// Incidents of the sender's organization it refers to.
    pub incidents: Vec<i64>,
    /// The alert this one passes on, and the relaying organization's note.
    pub relay_of: Option<i64>,
    pub relay_note: Option<String>,
    /// Files sent with it (a relay carries its source's).
    pub attachments: Vec<crate::NewAttachment>,
    /// E-mail the recipients' contacts (the server has mail configured).
    pub email: bool,
}

/// A stored alert.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRecord {
    pub id: i64,
    pub sender_org: Slug,
    pub sender_user: String,
    pub title: String,
    pub body: String,
    pub tlp: Tlp,
    pub audience: Audience,
    pub clients_permitted: bool,
    pub ack_within: Option<TimeDelta>,
    pub exercise: bool,
    pub reports: Vec<i64>,
    pub incidents: Vec<i64>,
    pub relay_of: Option<i64>,
    pub relay_note: Option<String>,
    pub created: DateTime<Utc>,
}

/// One recipient organization's delivery of an alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub org: Slug,
    pub delivered: DateTime<Utc>,
    pub read: Option<DateTime<Utc>>,
    pub read_by: Option<String>,
    pub acked: Option<DateTime<Utc>>,
    pub acked_by: Option<String>,
}

/// Which rows of a delivery table to show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeliveryShow {
    #[default]
    All,
    Unread,
    Unacknowledged,
    Acknowledged,
}

impl DeliveryShow {
    pub const ALL: [Self; 4] = [
        Self::All,
        Self::Unread,
        Self::Unacknowledged,
        Self::Acknowledged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Unread => "unread",
            Self::Unacknowledged => "unacknowledged",
            Self::Acknowledged => "acknowledged",
        }
    }

    /// The value named `s`; `None` for any other.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The filters and page of a delivery table.
#[derive(Clone, Debug, Default)]
pub struct DeliveryFilter {
    pub show: DeliveryShow,
    /// Only organizations of this sector.
    pub sector: Option<Slug>,
    /// Part of the organization's id or of its English or Japanese name, in any case.
    pub text: Option<String>,
    pub offset: u32,
    pub limit: u32,
}

/// A row of a delivery table.
#[derive(Clone, Debug)]
pub struct DeliveryLine {
    /// The CEPTOAR that passed the alert on, for rows the alert reached through it.
    pub via: Option<Slug>,
    pub record: DeliveryRecord,
    /// The first e-mail to the organization's contacts, when one was due.
    pub email: Option<crate::JobState>,
    /// Webhook calls: done when one was answered, pending while any is, dead when all failed;
    /// `None` when it has no webhook.
    pub webhooks: Option<crate::JobState>,
}

/// One page of a delivery table, with the counts of the whole table.
#[derive(Clone, Debug)]
pub struct DeliveryPage {
    pub rows: Vec<DeliveryLine>,
    /// Rows the filters match, on every page.
    pub matching: u64,
    /// Rows in all, read and acknowledged, whatever the filters.
    pub total: u64,
    pub read: u64,
    pub acked: u64,
}

#[derive(sqlx::FromRow)]
struct AlertRow {
    id: i64,
    sender_org: String,
    sender_user: String,
    title: String,
    body: String,
    tlp: String,
    audience: String,
    clients_permitted: i64,
    ack_within_us: Option<i64>,
    exercise: i64,
    reports: String,
    incidents: String,
    relay_of: Option<i64>,
    relay_note: Option<String>,
    created_us: i64,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    org: String,
    delivered_us: i64,
    read_us: Option<i64>,
    read_by: Option<String>,
    acked_us: Option<i64>,
    acked_by: Option<String>,
}

const ALERT_SELECT: &str = "SELECT a.id, o.slug AS sender_org, a.sender_user, a.title, a.body, a.tlp, \
     a.audience, a.clients_permitted, a.ack_within_us, a.exercise, a.reports, a.incidents, a.relay_of, \
     a.relay_note, a.created_us FROM alerts a JOIN organizations o ON o.id = a.sender_org_id";

/// Alerts `a` (sent by `o`) that the organization `$1` sent or received.
const OF_ORG: &str = "(o.slug = $1 OR EXISTS (SELECT 1 FROM alert_deliveries d \
     JOIN organizations r ON r.id = d.org_id WHERE d.alert_id = a.id AND r.slug = $1))";

/// Alerts kept in memory (their bodies are at most 100,000 characters).
const ALERT_CACHE: usize = 1024;

/// Delivery rows written per statement when fanning out.
const FAN_OUT_CHUNK: usize = 400;

/// The SQL form of `ciphub_domain::policy::sharing::is_public` for an alert row `a`: what the
/// public advisories page and feed may show. A store test checks the two agree on every label.
pub const PUBLIC_ALERT: &str = "a.tlp = 'TLP:CLEAR'";

fn corrupt(e: impl ToString) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl AlertRow {
    fn into_record(self) -> Result<AlertRecord, StoreError> {
        Ok(AlertRecord {
            id: self.id,
            sender_org: Slug::parse(&self.sender_org).map_err(corrupt)?,
            sender_user: self.sender_user,
            title: self.title,
            body: self.body,
            tlp: self.tlp.parse().map_err(corrupt)?,
            audience: serde_json::from_str(&self.audience).map_err(corrupt)?,
            clients_permitted: self.clients_permitted != 0,
            ack_within: self.ack_within_us.map(TimeDelta::microseconds),
            exercise: self.exercise != 0,
            reports: serde_json::from_str(&self.reports).map_err(corrupt)?,
            incidents: serde_json::from_str(&self.incidents).map_err(corrupt)?,
            relay_of: self.relay_of,
            relay_note: self.relay_note,
            created: from_us(self.created_us),
        })
    }
}

impl DeliveryRow {
    fn into_record(self) -> Result<DeliveryRecord, StoreError> {
        Ok(DeliveryRecord {
            org: Slug::parse(&self.org).map_err(corrupt)?,
            delivered: from_us(self.delivered_us),
            read: self.read_us.map(from_us),
            read_by: self.read_by,
            acked: self.acked_us.map(from_us),
            acked_by: self.acked_by,
        })
    }
}

impl Store {
    /// Every sector and every organization's kind, sectors and memberships, for resolving audiences.
    pub async fn community(&self) -> Result<(BTreeSet<Slug>, Vec<OrgFacts>), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let sectors: Vec<String> = sqlx::query_scalar("SELECT slug FROM sectors")
            .fetch_all(&mut *conn)
            .await?;
        let orgs: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT id, slug, kind FROM organizations ORDER BY id")
                .fetch_all(&mut *conn)
                .await?;
        let org_sectors: Vec<(i64, String)> =
            sqlx::query_as("SELECT org_id, sector FROM org_sectors")
                .fetch_all(&mut *conn)
                .await?;
        let groups: Vec<(i64, String)> = sqlx::query_as(
            "SELECT m.member_id, g.slug FROM memberships m JOIN organizations g ON g.id = m.group_id",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut by_id: BTreeMap<i64, OrgFacts> = BTreeMap::new();
        for (id, slug, kind) in orgs {
            by_id.insert(
                id,
                OrgFacts {
                    slug: Slug::parse(&slug).map_err(corrupt)?,
                    kind: kind.parse::<OrgKind>().map_err(corrupt)?,
                    sectors: Vec::new(),
                    member_of: Vec::new(),
                },
            );
        }
        for (id, s) in org_sectors {
            if let Some(o) = by_id.get_mut(&id) {
                o.sectors.push(Slug::parse(&s).map_err(corrupt)?);
            }
        }
        for (id, g) in groups {
            if let Some(o) = by_id.get_mut(&id) {
                o.member_of.push(Slug::parse(&g).map_err(corrupt)?);
            }
        }
        let sectors = sectors
            .iter()
            .map(|s| Slug::parse(s).map_err(corrupt))
            .collect::<Result<_, _>>()?;
        Ok((sectors, by_id.into_values().collect()))
    }

    /// Stores an alert and delivers it to every recipient organization's inbox, in one transaction.
    pub async fn create_alert(
        &self,
        sender_org: &Slug,
        sender_user: &str,
        by: &By,
        new: &NewAlert,
        recipients: &BTreeSet<Slug>,
    ) -> Result<AlertRecord, StoreError> {
        let ids: BTreeMap<String, i64> =
            sqlx::query_as::<_, (String, i64)>("SELECT slug, id FROM organizations")
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .collect();
        let sender_id = *ids
            .get(sender_org.as_str())
            .ok_or_else(|| StoreError::not_found("organization", sender_org))?;
        let recipient_ids: Vec<i64> = recipients
            .iter()
            .map(|r| {
                ids.get(r.as_str())
                    .copied()
                    .ok_or_else(|| StoreError::not_found("organization", r))
            })
            .collect::<Result<_, _>>()?;
        let mut w = self.begin_write(by).await?;
        let id = insert_alert(&mut w, sender_id, sender_user, new, &recipient_ids).await?;
        w.commit().await?;
        self.grew("alert_deliveries", recipient_ids.len());
        self.grew("alerts", 1);
        self.alert(id).await
    }

    /// One alert. Alerts never change once sent, so recent ones are kept in memory.
    pub async fn alert(&self, id: i64) -> Result<AlertRecord, StoreError> {
        if let Some(a) = self
            .alert_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            return Ok(a.clone());
        }
        let row: Option<AlertRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{ALERT_SELECT} WHERE a.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let a = row
            .ok_or_else(|| StoreError::not_found("alert", id))?
            .into_record()?;
        let mut cache = self.alert_cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= ALERT_CACHE {
            cache.clear();
        }
        cache.insert(id, a.clone());
        Ok(a)
    }

    /// Alerts an organization sent or received, newest first, at most `limit`; when `before` is
    /// given, those sent before that alert (none when it is not one of them).
    pub async fn alerts_of_org(
        &self,
        org: &Slug,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        self.alerts_of_org_in(org, before, limit, crate::Traffic::All)
            .await
    }

    /// The alerts an organization sent or received, newest first, of one kind of traffic
    /// (an exercise's alerts are its own; relays of them are exercise traffic too).
    pub async fn alerts_of_org_in(
        &self,
        org: &Slug,
        before: Option<i64>,
        limit: u32,
        traffic: crate::Traffic,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let traffic = match traffic {
            crate::Traffic::All => "1 = 1",
            crate::Traffic::Real => "a.exercise = 0",
            crate::Traffic::Exercise => "a.exercise <> 0",
        };
        // The cursor's subquery names its own `a` and `o`, so `OF_ORG` there checks the cursor:
        // an alert outside the list gives no place in it.
        let rows: Vec<AlertRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{ALERT_SELECT} WHERE {OF_ORG} AND {traffic} AND ($2 IS NULL OR a.seq < (SELECT a.seq FROM alerts a \
             JOIN organizations o ON o.id = a.sender_org_id WHERE a.id = $2 AND {OF_ORG})) \
             ORDER BY a.seq DESC LIMIT $3"
        )))
        .bind(org.as_str())
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(AlertRow::into_record).collect()
    }

    /// Organizations an alert reached, directly or through alerts that pass it on.
    pub async fn reached_by(&self, alert: i64) -> Result<BTreeSet<Slug>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT o.slug FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id \
             JOIN organizations o ON o.id = d.org_id WHERE a.id = $1 OR a.relay_of = $1",
        )
        .bind(alert)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|s| Slug::parse(s).map_err(corrupt))
            .collect()
    }

    /// The relay rules of these organizations that are switched on: organization and note.
    pub async fn auto_relays(
        &self,
        orgs: &BTreeSet<Slug>,
    ) -> Result<Vec<(Slug, String)>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT o.slug, r.note FROM relay_rules r JOIN organizations o ON o.id = r.org_id WHERE r.enabled = 1",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .filter(|(slug, _)| orgs.iter().any(|o| o.as_str() == slug))
            .map(|(slug, note)| Ok((Slug::parse(&slug).map_err(corrupt)?, note)))
            .collect()
    }

    /// An organization's relay rule: switched on, and its note.
    pub async fn relay_rule(&self, org: &Slug) -> Result<Option<(bool, String)>, StoreError> {
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT r.enabled, r.note FROM relay_rules r JOIN organizations o ON o.id = r.org_id WHERE o.slug = $1",
        )
        .bind(org.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(e, n)| (e != 0, n)))
    }

    /// Sets an organization's relay rule.
    pub async fn set_relay_rule(
        &self,
        org: &Slug,
        enabled: bool,
        note: &str,
        by: &By,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write(by).await?;
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM organizations WHERE slug = $1")
            .bind(org.as_str())
            .fetch_optional(&mut *w.tx)
            .await?;
        let id = id.ok_or_else(|| StoreError::not_found("organization", org))?;
        sqlx::query("DELETE FROM relay_rules WHERE org_id = $1")
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query("INSERT INTO relay_rules (org_id, enabled, note) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(i64::from(enabled))
            .bind(note)
            .execute(&mut *w.tx)
            .await?;
        w.audit(
            "organization.relay-rule",
            "organization",
            org.as_str(),
            json!({"enabled": enabled, "note": note}),
        )
        .await?;
        w.commit().await
    }

    /// The newest public alerts (`PUBLIC_ALERT`) that are not exercises, for the public page
    /// and feed.
    pub async fn public_alerts(&self, limit: u32) -> Result<Vec<AlertRecord>, StoreError> {
        let rows: Vec<AlertRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{ALERT_SELECT} WHERE {PUBLIC_ALERT} AND a.exercise = 0 ORDER BY a.seq DESC LIMIT $1"
        )))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(AlertRow::into_record).collect()
    }

    /// One organization's delivery of an alert, if it is a recipient.
    pub async fn delivery(
        &self,
        alert: i64,
        org: &Slug,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        let row: Option<DeliveryRow> = sqlx::query_as(
            "SELECT o.slug AS org, d.delivered_us, d.read_us, d.read_by, d.acked_us, d.acked_by \
             FROM alert_deliveries d JOIN organizations o ON o.id = d.org_id WHERE d.alert_id = $1 AND o.slug = $2",
        )
        .bind(alert)
        .bind(org.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(DeliveryRow::into_record).transpose()
    }

    /// `org`'s deliveries of each of `alerts` (those it did not receive are left out): one
    /// query for a list.
    pub async fn deliveries_to(
        &self,
        alerts: &[i64],
        org: &Slug,
    ) -> Result<HashMap<i64, DeliveryRecord>, StoreError> {
        let mut out = HashMap::with_capacity(alerts.len());
        for chunk in alerts.chunks(500) {
            let sql = format!(
                "SELECT d.alert_id, o.slug, d.delivered_us, d.read_us, d.read_by, d.acked_us, d.acked_by \
                 FROM alert_deliveries d JOIN organizations o ON o.id = d.org_id \
                 WHERE o.slug = $1 AND d.alert_id IN ({})",
                crate::taxii::placeholders(2, chunk.len())
            );
            type Row = (
                i64,
                String,
                i64,
                Option<i64>,
                Option<String>,
                Option<i64>,
                Option<String>,
            );
            let mut q = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql)).bind(org.as_str());
            for id in chunk {
                q = q.bind(*id);
            }
            for (alert, org, delivered_us, read_us, read_by, acked_us, acked_by) in
                q.fetch_all(&self.pool).await?
            {
                let record = DeliveryRow {
                    org,
                    delivered_us,
                    read_us,
                    read_by,
                    acked_us,
                    acked_by,
                }
                .into_record()?;
                out.insert(alert, record);
            }
        }
        Ok(out)
    }

    /// How many organizations an alert reached directly, and how many of them have read and
    /// acknowledged it.
    pub async fn delivery_summary(&self, alert: i64) -> Result<(i64, i64, i64), StoreError> {
        let row: (i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(read_us), COUNT(acked_us) FROM alert_deliveries WHERE alert_id = $1",
        )
        .bind(alert)
        .fetch_one(&self.pool)
        .await?;
        Ok(row)
    }

    /// Every recipient's delivery of an alert, by organization.
    pub async fn deliveries(&self, alert: i64) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "SELECT o.slug AS org, d.delivered_us, d.read_us, d.read_by, d.acked_us, d.acked_by \
             FROM alert_deliveries d JOIN organizations o ON o.id = d.org_id WHERE d.alert_id = $1 ORDER BY o.slug",
        )
        .bind(alert)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(DeliveryRow::into_record).collect()
    }

    /// The deliveries of the alerts that pass this one on, with the organization that passed
    /// it on, by organization.
    pub async fn relayed_deliveries(
        &self,
        alert: i64,
    ) -> Result<Vec<(Slug, DeliveryRecord)>, StoreError> {
        type Row = (
            String,
            String,
            i64,
            Option<i64>,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<Row> =
            sqlx::query_as(
                "SELECT s.slug, o.slug, d.delivered_us, d.read_us, d.read_by, d.acked_us, d.acked_by \
                 FROM alerts a JOIN alert_deliveries d ON d.alert_id = a.id \
                 JOIN organizations o ON o.id = d.org_id JOIN organizations s ON s.id = a.sender_org_id \
                 WHERE a.relay_of = $1 ORDER BY o.slug, s.slug",
            )
            .bind(alert)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(
                |(via, org, delivered_us, read_us, read_by, acked_us, acked_by)| {
                    Ok((
                        Slug::parse(&via).map_err(corrupt)?,
                        DeliveryRow {
                            org,
                            delivered_us,
                            read_us,
                            read_by,
                            acked_us,
                            acked_by,
                        }
                        .into_record()?,
                    ))
                },
            )
            .collect()
    }

    /// One page of an alert's delivery table (its own deliveries and those of the alerts that
    /// pass it on), by organization id, filtered in the database: its cost does not grow with
    /// the recipients. With each row: the CEPTOAR that passed it on, and how the e-mail and
    /// webhook calls of the first delivery went.
    pub async fn delivery_page(
        &self,
        alert: i64,
        filter: &DeliveryFilter,
    ) -> Result<DeliveryPage, StoreError> {
        let mut conn = self.pool.acquire().await?;
        // $1 alert, $2 show, $3 sector, $4 text pattern (lower case, LIKE-escaped).
        let rows_of = "FROM alerts a JOIN alert_deliveries d ON d.alert_id = a.id \
             JOIN organizations o ON o.id = d.org_id JOIN organizations s ON s.id = a.sender_org_id \
             WHERE (a.id = $1 OR a.relay_of = $1)";
        let filtered = "AND ($2 = 'all' OR ($2 = 'unread' AND d.read_us IS NULL) \
             OR ($2 = 'unacknowledged' AND d.acked_us IS NULL) \
             OR ($2 = 'acknowledged' AND d.acked_us IS NOT NULL)) \
             AND ($3 = '' OR EXISTS (SELECT 1 FROM org_sectors os WHERE os.org_id = o.id AND os.sector = $3)) \
             AND ($4 = '' OR lower(o.slug) LIKE $4 ESCAPE '\\' OR lower(o.name_en) LIKE $4 ESCAPE '\\' \
                  OR o.name_ja LIKE $4 ESCAPE '\\')";
        let (total, read, acked): (i64, i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*), count(d.read_us), count(d.acked_us) {rows_of}"
        )))
        .bind(alert)
        .fetch_one(&mut *conn)
        .await?;
        let pattern = crate::registry::like_pattern(filter.text.as_deref().unwrap_or(""));
        let sector = filter.sector.as_ref().map_or("", Slug::as_str);
        let (matching,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) {rows_of} {filtered}"
        )))
        .bind(alert)
        .bind(filter.show.as_str())
        .bind(sector)
        .bind(&pattern)
        .fetch_one(&mut *conn)
        .await?;
        type Row = (
            Option<String>,
            String,
            i64,
            Option<i64>,
            Option<String>,
            Option<i64>,
            Option<String>,
            Option<String>,
            i64,
            i64,
            i64,
        );
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT CASE WHEN a.id = $1 THEN NULL ELSE s.slug END, o.slug, d.delivered_us, d.read_us, \
             d.read_by, d.acked_us, d.acked_by, \
             (SELECT j.state FROM jobs j WHERE j.kind = 'email' AND j.alert_id = d.alert_id \
              AND j.org_id = d.org_id AND j.step = 0 LIMIT 1), \
             (SELECT count(*) FROM jobs j WHERE j.kind = 'webhook' AND j.alert_id = d.alert_id \
              AND j.org_id = d.org_id AND j.step = 0), \
             (SELECT count(*) FROM jobs j WHERE j.kind = 'webhook' AND j.alert_id = d.alert_id \
              AND j.org_id = d.org_id AND j.step = 0 AND j.state = 'done'), \
             (SELECT count(*) FROM jobs j WHERE j.kind = 'webhook' AND j.alert_id = d.alert_id \
              AND j.org_id = d.org_id AND j.step = 0 AND j.state = 'pending') \
             {rows_of} {filtered} ORDER BY o.slug, s.slug LIMIT $5 OFFSET $6"
        )))
        .bind(alert)
        .bind(filter.show.as_str())
        .bind(sector)
        .bind(&pattern)
        .bind(i64::from(filter.limit))
        .bind(i64::from(filter.offset))
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (
            via,
            org,
            delivered_us,
            read_us,
            read_by,
            acked_us,
            acked_by,
            email,
            hooks,
            done,
            pending,
        ) in rows
        {
            let record = DeliveryRow {
                org,
                delivered_us,
                read_us,
                read_by,
                acked_us,
                acked_by,
            }
            .into_record()?;
            let webhooks = if hooks == 0 {
                None
            } else if done > 0 {
                Some(crate::JobState::Done)
            } else if pending > 0 {
                Some(crate::JobState::Pending)
            } else {
                Some(crate::JobState::Dead)
            };
            out.push(DeliveryLine {
                via: via.map(|v| Slug::parse(&v).map_err(corrupt)).transpose()?,
                record,
                email: email.map(|e| crate::JobState::parse(&e)).transpose()?,
                webhooks,
            });
        }
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(DeliveryPage {
            rows: out,
            matching: n(matching),
            total: n(total),
            read: n(read),
            acked: n(acked),
        })
    }

    /// How an alert's e-mail and webhook calls to each recipient organization went: the state
    /// of its e-mail job and of each webhook call, for the first delivery (not reminders).
    pub async fn delivery_channels(
        &self,
        alert: i64,
    ) -> Result<BTreeMap<Slug, (Option<crate::JobState>, Vec<crate::JobState>)>, StoreError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT o.slug, j.kind, j.state FROM jobs j JOIN organizations o ON o.id = j.org_id \
             WHERE j.alert_id = $1 AND j.step = 0 AND j.kind IN ('email', 'webhook')",
        )
        .bind(alert)
        .fetch_all(&self.pool)
        .await?;
        let mut out: BTreeMap<Slug, (Option<crate::JobState>, Vec<crate::JobState>)> =
            BTreeMap::new();
        for (org, kind, state) in rows {
            let state = crate::JobState::parse(&state)?;
            let entry = out.entry(Slug::parse(&org).map_err(corrupt)?).or_default();
            if kind == "email" {
                entry.0 = Some(state);
            } else {
                entry.1.push(state);
            }
        }
        Ok(out)
    }

    /// Records that a user of a recipient organization read an alert (the first read counts).
    pub async fn mark_alert_read(&self, alert: i64, user: &UserRecord) -> Result<(), StoreError> {
        // Reading is bookkeeping of delivery, not a change of the alert: not audited.
        sqlx::query(
            "UPDATE alert_deliveries SET read_us = $3, read_by = $4 WHERE alert_id = $1 AND read_us IS NULL \
             AND org_id = (SELECT id FROM organizations WHERE slug = $2)",
        )
        .bind(alert)
        .bind(user.org.as_str())
        .bind(crate::clock::to_us(self.clock.now()))
        .bind(user.name.as_str())
        .execute(&self.write_pool)
        .await?;
        Ok(())
    }

    /// Acknowledges an alert for the user's organization; acknowledging again keeps the first.
    /// `None` when the organization is not a recipient.
    ///
    /// Acknowledgements arrive in bursts (every operator at once), so concurrent ones are
    /// written together: each caller queues its own, and whoever holds the committer writes
    /// every queued one in one transaction (one audit entry each) and answers them all.
    pub async fn ack_alert(
        &self,
        alert: i64,
        user: &UserRecord,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        self.acks
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(AckRequest {
                alert,
                org: user.org.clone(),
                user: user.name.to_string(),
                by: By::actor(&user.actor()),
                reply,
            });
        let committer = self.acks.committer.lock().await;
        if let Ok(done) = answer.try_recv() {
            return done;
        }
        let batch = std::mem::take(&mut *self.acks.queue.lock().unwrap_or_else(|e| e.into_inner()));
        let (requests, replies): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|r| ((r.alert, r.org, r.user, r.by), r.reply))
            .unzip();
        match self.write_acks(&requests).await {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Err(e) => {
                let text = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Batch(text.clone())));
                }
            }
        }
        drop(committer);
        answer
            .await
            .map_err(|_| StoreError::Batch("the acknowledgement was dropped".into()))?
    }

    /// Writes a batch of acknowledgements in one transaction; returns each one's delivery.
    async fn write_acks(
        &self,
        requests: &[(i64, Slug, String, By)],
    ) -> Result<Vec<Option<DeliveryRecord>>, StoreError> {
        let mut senders: BTreeMap<i64, Slug> = BTreeMap::new();
        for (alert, ..) in requests {
            if let std::collections::btree_map::Entry::Vacant(e) = senders.entry(*alert) {
                match self.alert(*alert).await {
                    Ok(a) => {
                        e.insert(a.sender_org);
                    }
                    Err(StoreError::NotFound { .. }) => {}
                    Err(other) => return Err(other),
                }
            }
        }
        let mut w = self.begin_write(&By::system()).await?;
        let now = w.now_us;
        let mut out = Vec::with_capacity(requests.len());
        for (alert, org, user, by) in requests {
            let done = sqlx::query(
                "UPDATE alert_deliveries SET acked_us = $3, acked_by = $4, \
                 read_us = COALESCE(read_us, $3), read_by = COALESCE(read_by, $4) \
                 WHERE alert_id = $1 AND acked_us IS NULL AND org_id = (SELECT id FROM organizations WHERE slug = $2)",
            )
            .bind(alert)
            .bind(org.as_str())
            .bind(now)
            .bind(user)
            .execute(&mut *w.tx)
            .await?;
            if done.rows_affected() == 1 {
                w.audit_by(by, "alert.ack", "alert", &alert.to_string(), json!({}))
                    .await?;
                if let Some(sender) = senders.get(alert) {
                    w.emit(crate::Event::Ack {
                        alert: *alert,
                        sender: sender.clone(),
                        org: org.clone(),
                    });
                }
            }
            let row: Option<DeliveryRow> = sqlx::query_as(
                "SELECT o.slug AS org, d.delivered_us, d.read_us, d.read_by, d.acked_us, d.acked_by \
                 FROM alert_deliveries d JOIN organizations o ON o.id = d.org_id WHERE d.alert_id = $1 AND o.slug = $2",
            )
            .bind(alert)
            .bind(org.as_str())
            .fetch_optional(&mut *w.tx)
            .await?;
            out.push(row.map(DeliveryRow::into_record).transpose()?);
        }
        w.commit().await?;
        Ok(out)
    }
}

/// Inserts an alert and its deliveries, queues its delivery jobs and escalation, and audits
/// it, in the caller's transaction. Returns its id.
pub(crate) async fn insert_alert(
    w: &mut crate::write::WriteTx,
    sender_id: i64,
    sender_user: &str,
    new: &NewAlert,
    recipient_ids: &[i64],
) -> Result<i64, StoreError> {
    let now = w.now_us;
    let id = w.fresh_id(crate::ids::Table::Alerts).await?;
    sqlx::query(
            "INSERT INTO alerts (sender_org_id, sender_user, title, body, tlp, audience, clients_permitted, \
             ack_within_us, exercise, reports, created_us, relay_of, relay_note, incidents, id, seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
             (SELECT COALESCE(MAX(seq), 0) + 1 FROM alerts))",
        )
        .bind(sender_id)
        .bind(sender_user)
        .bind(&new.title)
        .bind(&new.body)
        .bind(new.tlp.as_str())
        .bind(serde_json::to_string(&new.audience).map_err(corrupt)?)
        .bind(i64::from(new.clients_permitted))
        .bind(new.ack_within.and_then(|d| d.num_microseconds()))
        .bind(i64::from(new.exercise))
        .bind(serde_json::to_string(&new.reports).map_err(corrupt)?)
        .bind(now)
        .bind(new.relay_of)
        .bind(&new.relay_note)
        .bind(serde_json::to_string(&new.incidents).map_err(corrupt)?)
        .bind(id)
        .execute(&mut *w.tx)
        .await?;
    // Many rows per statement: an alert to every operator is thousands of rows.
    for chunk in recipient_ids.chunks(FAN_OUT_CHUNK) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("($1, $2, ${})", i + 3))
            .collect();
        let sql = format!(
            "INSERT INTO alert_deliveries (alert_id, delivered_us, org_id) VALUES {}",
            values.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(now);
        for org in chunk {
            q = q.bind(*org);
        }
        q.execute(&mut *w.tx).await?;
    }
    let mut files = Vec::new();
    for (i, a) in new.attachments.iter().enumerate() {
        let sha256 = hex::encode(sha2::Sha256::digest(&a.content));
        sqlx::query(
                "INSERT INTO alert_attachments (alert_id, position, name, media_type, size, sha256, content) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(i as i64 + 1)
            .bind(&a.name)
            .bind(&a.media_type)
            .bind(a.content.len() as i64)
            .bind(&sha256)
            .bind(a.content.clone())
            .execute(&mut *w.tx)
            .await?;
        files.push(json!({"name": a.name, "sha256": sha256}));
    }
    if let Some(source) = new.relay_of {
        sqlx::query(
                "INSERT INTO alert_attachments (alert_id, position, name, media_type, size, sha256, content) \
                 SELECT $1, position, name, media_type, size, sha256, content FROM alert_attachments \
                 WHERE alert_id = $2",
            )
            .bind(id)
            .bind(source)
            .execute(&mut *w.tx)
            .await?;
    }
    crate::delivery::enqueue_delivery(&mut w.tx, id, 0, now, new.email).await?;
    if let Some(within) = new.ack_within {
        let step = ciphub_domain::alert::EscalationStep::Reminder;
        let due = now
            + step
                .due_after(within)
                .num_microseconds()
                .unwrap_or(i64::MAX / 4);
        crate::delivery::enqueue_escalation(&mut w.tx, id, step, due, now).await?;
    }
    w.audit(
        "alert.create",
        "alert",
        &id.to_string(),
        json!({"tlp": new.tlp, "recipients": recipient_ids.len(), "exercise": new.exercise,
                   "relay_of": new.relay_of, "attachments": files}),
    )
    .await?;
    w.emit(crate::Event::Alert { id });
    w.emit(crate::Event::Jobs);
    Ok(id)
}

/// One queued acknowledgement and where its answer goes.
pub(crate) struct AckRequest {
    alert: i64,
    org: Slug,
    user: String,
    by: By,
    reply: tokio::sync::oneshot::Sender<Result<Option<DeliveryRecord>, StoreError>>,
}

/// Acknowledgements waiting to be written, and the lock of whoever writes them.
#[derive(Default)]
pub(crate) struct AckQueue {
    queue: std::sync::Mutex<Vec<AckRequest>>,
    committer: tokio::sync::Mutex<()>,
}
