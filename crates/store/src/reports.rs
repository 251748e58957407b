//! Reports: filing, stages, routing to recipients' queues, notifications, triage, notes,
//! relays of sanitized copies, incidents, and the identifiers that flag identifying text.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use ciphub_domain::Slug;
use ciphub_domain::anonymize::{Identifier, IdentifierKind};
use ciphub_domain::report::{
    Cause, Due, Formation, NewReport, RouteReason, RoutingFacts, Stage, StageDeadlines, TechScope,
    Tlp, TriageStatus, check_next_stage, next_due, route,
};
use ciphub_domain::severity::Answers;
use serde_json::json;

use crate::clock::{from_us, to_us};
use crate::ids::Table;
use crate::public_ids::Kind;
use crate::users::UserRecord;
use crate::write::WriteTx;
use crate::{By, Store, StoreError};

/// A report with everything known about it. Who may see which part is the server's to decide,
/// with the domain's `policy::reports::report_access`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportRecord {
    pub id: i64,
    pub reporter_org: Slug,
    pub reporter_user: String,
    pub formation: Formation,
    pub via: Option<Slug>,
    pub consent: Option<DateTime<Utc>>,
    pub relay_of: Option<i64>,
    pub title: String,
    pub description: String,
    pub cause: Cause,
    pub scope: BTreeSet<TechScope>,
    pub sectors: Vec<Slug>,
    pub services: Vec<Slug>,
    pub detected: DateTime<Utc>,
    pub occurred: Option<DateTime<Utc>>,
    pub schema: String,
    pub answers: Answers,
    pub level: u8,
    pub emergency: bool,
    pub score: Option<f64>,
    pub tlp: Tlp,
    pub stage: Stage,
    pub initial_at: DateTime<Utc>,
    pub initial_due: DateTime<Utc>,
    pub next_due: Option<Due>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    /// The exercise run the report belongs to, and the inject it is about.
    pub exercise: Option<(i64, Slug)>,
    pub stages: Vec<StageRecord>,
    pub recipients: Vec<RecipientRecord>,
}

impl ReportRecord {
    /// The organizations the report was routed to.
    pub fn recipient_orgs(&self) -> Vec<Slug> {
        self.recipients.iter().map(|r| r.org.clone()).collect()
    }

    /// Whether the next stage is late at `now`.
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        self.next_due.is_some_and(|d| d.by < now)
    }

    /// Whether the initial report came after its deadline.
    pub fn initial_late(&self) -> bool {
        self.initial_at > self.initial_due
    }
}

/// One filed stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageRecord {
    pub stage: Stage,
    pub filed: DateTime<Utc>,
    pub by_user: String,
    pub summary: String,
    pub level: u8,
}

/// One recipient's queue entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientRecord {
    pub org: Slug,
    pub reason: RouteReason,
    pub urgent: bool,
    pub added: DateTime<Utc>,
    pub status: TriageStatus,
    pub assignee: Option<String>,
    pub incident: Option<i64>,
}

/// A later stage: its summary, and new answers if the severity changed.
#[derive(Clone, Debug)]
pub struct StageUpdate {
    pub stage: Stage,
    pub summary: String,
    /// New answers with their level, emergency flag and score.
    pub severity: Option<(Answers, u8, bool, Option<f64>)>,
}

/// A notification to an organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationRecord {
    pub id: i64,
    pub report_id: i64,
    /// The role it is for (duty: the 24/365 desk), or `None` for the whole organization.
    pub role: Option<String>,
    pub kind: String,
    pub urgent: bool,
    pub created: DateTime<Utc>,
    pub read: Option<DateTime<Utc>>,
}

/// A recipient's note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteRecord {
    pub id: i64,
    pub author: String,
    pub body: String,
    pub created: DateTime<Utc>,
}

/// A relaying secretariat's own assessment of a report's severity, in the report's schema.
#[derive(Clone, Debug, PartialEq)]
pub struct Reassessment {
    pub answers: ciphub_domain::severity::Answers,
    pub level: u8,
    pub emergency: bool,
    pub score: Option<f64>,
}

/// A triage change; `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct TriagePatch {
    pub status: Option<TriageStatus>,
    /// `Some(None)` clears the assignee.
    pub assignee: Option<Option<String>>,
}

#[derive(sqlx::FromRow)]
struct ReportRow {
    id: i64,
    reporter_org: String,
    reporter_user: String,
    formation: String,
    via: Option<String>,
    consent_us: Option<i64>,
    relay_of: Option<i64>,
    title: String,
    description: String,
    cause: String,
    scope: String,
    detected_us: i64,
    occurred_us: Option<i64>,
    schema_id: String,
    answers: String,
    level: i64,
    emergency: i64,
    score: Option<f64>,
    tlp: String,
    stage: String,
    initial_us: i64,
    initial_due_us: i64,
    next_stage: Option<String>,
    next_due_us: Option<i64>,
    created_us: i64,
    updated_us: i64,
    exercise_run_id: Option<i64>,
    exercise_inject: Option<String>,
}

const REPORT_SELECT: &str = "SELECT r.id, o.slug AS reporter_org, r.reporter_user, r.formation, \
     v.slug AS via, r.consent_us, r.relay_of, r.title, r.description, r.cause, r.scope, \
     r.detected_us, r.occurred_us, r.schema_id, r.answers, r.level, r.emergency, r.score, r.tlp, \
     r.stage, r.initial_us, r.initial_due_us, r.next_stage, r.next_due_us, r.created_us, \
     r.updated_us, r.exercise_run_id, r.exercise_inject FROM reports r \
     JOIN organizations o ON o.id = r.reporter_org_id LEFT JOIN organizations v ON v.id = r.via_org_id";

/// The SQL form of `ReportAccess::read` in `ciphub_domain::policy::reports::report_access`,
/// for a report row `r` with its reporter's organization `o` and the reader's organization's
/// slug as `$1`: the reporter's organization and the report's recipients read it. The anonymity
/// property test checks every list against the rule.
pub const REPORT_READABLE: &str = "(o.slug = $1 OR EXISTS (SELECT 1 FROM report_recipients rr \
     JOIN organizations ro ON ro.id = rr.org_id WHERE rr.report_id = r.id AND ro.slug = $1))";

fn corrupt(e: impl ToString) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn slug(s: &str) -> Result<Slug, StoreError> {
    Slug::parse(s).map_err(corrupt)
}

fn scope_text(scope: &BTreeSet<TechScope>) -> String {
    scope
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

impl Store {
    /// Files a report: checks it against the registry, routes it, queues it for every
    /// recipient, notifies them, and audits it (hiding the actor when it is anonymous).
    pub async fn file_report(
        &self,
        reporter: &UserRecord,
        new: &NewReport,
        deadlines: StageDeadlines,
    ) -> Result<ReportRecord, StoreError> {
        self.file_report_in(reporter, new, deadlines, None).await
    }

    /// Files a report, in an exercise run when `exercise` names the run and its inject the
    /// report is about (the caller has checked that the reporter takes part).
    pub async fn file_report_in(
        &self,
        reporter: &UserRecord,
        new: &NewReport,
        deadlines: StageDeadlines,
        exercise: Option<(i64, &Slug)>,
    ) -> Result<ReportRecord, StoreError> {
        // Everything read from the registry is read before the write lock is taken, so
        // concurrent filings check and route in parallel and queue only to insert.
        let filing = self.prepare_filing(&reporter.org, new, None).await?;
        let by = By::actor(&reporter.actor());
        let mut w = self.begin_write(&by).await?;
        let id = insert_filing(&mut w, &filing, reporter.name.as_str(), new, deadlines).await?;
        if let Some((run, inject)) = exercise {
            mark_exercise_report(&mut w, id, run, inject).await?;
        }
        w.commit().await?;
        self.grew("reports", 1);
        self.report(id).await
    }

    /// Checks a report against the registry and routes it; `via` overrides the CEPTOAR the
    /// reporter's memberships give (a simulated operator's report in an exercise).
    pub(crate) async fn prepare_filing(
        &self,
        reporter_org: &Slug,
        new: &NewReport,
        via: Option<Slug>,
    ) -> Result<Filing, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let reporter_org_id = org_id(&mut conn, reporter_org).await?;
        check_sectors_and_services(&mut conn, &new.sectors, &new.services).await?;
        let via = match via {
            Some(v) => Some(v),
            None => resolve_via(&mut conn, reporter_org_id, new).await?,
        };
        let facts = routing_facts(
            &mut conn,
            new.formation,
            &new.sectors,
            via.clone(),
            new.emergency,
        )
        .await?;
        let via_id = match &via {
            Some(v) => Some(org_id(&mut conn, v).await?),
            None => None,
        };
        let mut routes = Vec::new();
        for r in route(&facts) {
            let id = org_id(&mut conn, &r.org).await?;
            routes.push((id, r));
        }
        Ok(Filing {
            reporter_org_id,
            via_id,
            routes,
        })
    }

    /// One report with its stages and recipients.
    pub async fn report(&self, id: i64) -> Result<ReportRecord, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let row: Option<ReportRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{REPORT_SELECT} WHERE r.id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        let row = row.ok_or_else(|| StoreError::not_found("report", id))?;
        load_record(&mut conn, row).await
    }

    /// Reports an organization filed or received, newest first, at most `limit`; when `before`
    /// is given, those filed before that report (none when it is not one of them).
    pub async fn reports_of_org(
        &self,
        org: &Slug,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ReportRecord>, StoreError> {
        self.reports_of_org_in(org, before, limit, crate::Traffic::All)
            .await
    }

    /// The reports an organization filed or received, newest first, of one kind of traffic.
    pub async fn reports_of_org_in(
        &self,
        org: &Slug,
        before: Option<i64>,
        limit: u32,
        traffic: crate::Traffic,
    ) -> Result<Vec<ReportRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let traffic = traffic.condition("r");
        // The cursor's subquery names its own `r` and `o`, so `REPORT_READABLE` there checks
        // the cursor: a report outside the list gives no place in it.
        let rows: Vec<ReportRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{REPORT_SELECT} WHERE {REPORT_READABLE} AND {traffic} AND ($2 IS NULL OR r.seq < (SELECT r.seq FROM reports r \
             JOIN organizations o ON o.id = r.reporter_org_id WHERE r.id = $2 AND {REPORT_READABLE})) \
             ORDER BY r.seq DESC LIMIT $3"
        )))
        .bind(org.as_str())
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        load_records(&mut conn, rows).await
    }

    /// Files an update or the final report; a change of severity re-routes and notifies.
    pub async fn file_stage(
        &self,
        id: i64,
        by: &UserRecord,
        update: &StageUpdate,
        deadlines: StageDeadlines,
    ) -> Result<ReportRecord, StoreError> {
        let current = self.report(id).await?;
        let done: BTreeSet<Stage> = current.stages.iter().map(|s| s.stage).collect();
        check_next_stage(&done, update.stage)
            .map_err(|e| StoreError::invalid("stage", e.to_string()))?;
        let mut w = self.begin_write(&By::actor(&by.actor())).await?;
        // The stage row takes the report's lock; re-check under it so two racing finals cannot both land.
        let stage_now: String =
            sqlx::query_scalar("UPDATE reports SET updated_us = $2 WHERE id = $1 RETURNING stage")
                .bind(id)
                .bind(w.now_us)
                .fetch_one(&mut *w.tx)
                .await?;
        if stage_now == Stage::Final.as_str() {
            return Err(StoreError::invalid(
                "stage",
                "the report is final; no further stage can be filed",
            ));
        }
        let (level, emergency) = match &update.severity {
            Some((answers, level, emergency, score)) => {
                sqlx::query("UPDATE reports SET answers = $2, level = $3, emergency = $4, score = $5 WHERE id = $1")
                    .bind(id)
                    .bind(serde_json::to_string(answers).map_err(corrupt)?)
                    .bind(i64::from(*level))
                    .bind(i64::from(*emergency))
                    .bind(*score)
                    .execute(&mut *w.tx)
                    .await?;
                (*level, *emergency)
            }
            None => (current.level, current.emergency),
        };
        let mut done = done;
        done.insert(update.stage);
        let due = next_due(deadlines, current.initial_at, &done);
        sqlx::query(
            "UPDATE reports SET stage = $2, next_stage = $3, next_due_us = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(update.stage.as_str())
        .bind(due.map(|d| d.stage.as_str()))
        .bind(due.map(|d| to_us(d.by)))
        .execute(&mut *w.tx)
        .await?;
        insert_stage(
            &mut w,
            id,
            update.stage,
            by.name.as_str(),
            &update.summary,
            level,
        )
        .await?;
        let severity_changed = level != current.level;
        let mut known: BTreeSet<Slug> = current.recipient_orgs().into_iter().collect();
        let mut duty_desk: Option<Slug> = None;
        if severity_changed {
            let facts = routing_facts(
                &mut w.tx,
                current.formation,
                &current.sectors,
                current.via.clone(),
                emergency,
            )
            .await?;
            if emergency {
                duty_desk.clone_from(&facts.coordinator);
            }
            for r in route(&facts) {
                if known.insert(r.org.clone()) {
                    let org = org_id(&mut w.tx, &r.org).await?;
                    add_recipient(&mut w, id, org, r.reason, r.urgent).await?;
                } else if r.urgent {
                    sqlx::query(
                        "UPDATE report_recipients SET urgent = 1 WHERE report_id = $1 \
                         AND org_id = (SELECT id FROM organizations WHERE slug = $2)",
                    )
                    .bind(id)
                    .bind(r.org.as_str())
                    .execute(&mut *w.tx)
                    .await?;
                }
            }
        }
        let kind = if severity_changed {
            "report.severity"
        } else {
            "report.stage"
        };
        for org in &known {
            let oid = org_id(&mut w.tx, org).await?;
            let role = (duty_desk.as_ref() == Some(org)).then_some("duty");
            notify(&mut w, oid, id, kind, emergency, role).await?;
        }
        let detail =
            json!({"stage": update.stage, "level": level, "severity_changed": severity_changed});
        if current.formation == Formation::CeptoarAnonymous {
            w.audit_restricted("report.stage", "report", &id.to_string(), detail)
                .await?;
        } else {
            w.audit("report.stage", "report", &id.to_string(), detail)
                .await?;
        }
        w.commit().await?;
        self.report(id).await
    }

    /// Records the reporter's consent to be named to every recipient.
    pub async fn consent_to_be_named(
        &self,
        id: i64,
        by: &UserRecord,
    ) -> Result<ReportRecord, StoreError> {
        let mut w = self.begin_write(&By::actor(&by.actor())).await?;
        let done = sqlx::query("UPDATE reports SET consent_us = $2, updated_us = $2 WHERE id = $1 AND consent_us IS NULL")
            .bind(id)
            .bind(w.now_us)
            .execute(&mut *w.tx)
            .await?;
        if done.rows_affected() == 1 {
            // Restricted like every act of the reporter: consent names it to the report's
            // recipients, not to whoever reads the audit trail.
            w.audit_restricted(
                "report.consent",
                "report",
                &id.to_string(),
                json!({"named": true}),
            )
            .await?;
            w.commit().await?;
        }
        self.report(id).await
    }

    /// Changes one recipient organization's triage of a report.
    pub async fn triage(
        &self,
        id: i64,
        org: &Slug,
        patch: &TriagePatch,
        by: &By,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write(by).await?;
        let oid = org_id(&mut w.tx, org).await?;
        if let Some(status) = patch.status {
            sqlx::query(
                "UPDATE report_recipients SET status = $3 WHERE report_id = $1 AND org_id = $2",
            )
            .bind(id)
            .bind(oid)
            .bind(status.as_str())
            .execute(&mut *w.tx)
            .await?;
        }
        if let Some(assignee) = &patch.assignee {
            sqlx::query(
                "UPDATE report_recipients SET assignee = $3 WHERE report_id = $1 AND org_id = $2",
            )
            .bind(id)
            .bind(oid)
            .bind(assignee)
            .execute(&mut *w.tx)
            .await?;
        }
        w.audit(
            "report.triage",
            "report",
            &id.to_string(),
            json!({"status": patch.status, "assignee": patch.assignee}),
        )
        .await?;
        w.commit().await
    }

    /// Adds a recipient's note.
    pub async fn add_note(
        &self,
        id: i64,
        org: &Slug,
        author: &str,
        body: &str,
        by: &By,
    ) -> Result<NoteRecord, StoreError> {
        let ids = self.public_ids().await?;
        let mut w = self.begin_write(by).await?;
        let oid = org_id(&mut w.tx, org).await?;
        let nid: i64 = sqlx::query_scalar(
            "INSERT INTO report_notes (report_id, org_id, author, body, created_us) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(id)
        .bind(oid)
        .bind(author)
        .bind(body)
        .bind(w.now_us)
        .fetch_one(&mut *w.tx)
        .await?;
        let nid = ids.hide(Kind::Note, nid);
        w.audit(
            "report.note",
            "report",
            &id.to_string(),
            json!({"note": nid}),
        )
        .await?;
        let created = from_us(w.now_us);
        w.commit().await?;
        Ok(NoteRecord {
            id: nid,
            author: author.to_owned(),
            body: body.to_owned(),
            created,
        })
    }

    /// A recipient organization's notes on a report, oldest first.
    pub async fn notes(&self, id: i64, org: &Slug) -> Result<Vec<NoteRecord>, StoreError> {
        let ids = self.public_ids().await?;
        let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
            "SELECT n.id, n.author, n.body, n.created_us FROM report_notes n JOIN organizations o \
             ON o.id = n.org_id WHERE n.report_id = $1 AND o.slug = $2 ORDER BY n.id",
        )
        .bind(id)
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, author, body, created)| NoteRecord {
                id: ids.hide(Kind::Note, id),
                author,
                body,
                created: from_us(created),
            })
            .collect())
    }

    /// Relays a sanitized copy of an anonymous report from its CEPTOAR secretariat: a new report
    /// filed by the CEPTOAR, routed like a ministry report plus any CEPTOARs named in `also_to`.
    pub async fn relay_report(
        &self,
        source: &ReportRecord,
        by: &UserRecord,
        title: &str,
        description: &str,
        also_to: &[Slug],
        assessed: Option<&Reassessment>,
    ) -> Result<ReportRecord, StoreError> {
        let mut w = self.begin_write(&By::actor(&by.actor())).await?;
        let ceptoar_id = org_id(&mut w.tx, &by.org).await?;
        let facts = routing_facts(
            &mut w.tx,
            Formation::Ministry,
            &source.sectors,
            None,
            source.emergency,
        )
        .await?;
        let mut routes = route(&facts);
        for (i, extra) in also_to.iter().enumerate() {
            let kind: Option<String> =
                sqlx::query_scalar("SELECT kind FROM organizations WHERE slug = $1")
                    .bind(extra.as_str())
                    .fetch_optional(&mut *w.tx)
                    .await?;
            let Some(kind) = kind else {
                return Err(StoreError::invalid(
                    format!("also_to[{i}]"),
                    format!("organization {extra:?} does not exist"),
                ));
            };
            let kind: ciphub_domain::registry::OrgKind = kind.parse().map_err(corrupt)?;
            ciphub_domain::policy::reports::relay_extra_allowed(source.tlp, extra, kind)
                .map_err(|m| StoreError::invalid(format!("also_to[{i}]"), m))?;
            if !routes.iter().any(|r| &r.org == extra) && extra != &by.org {
                routes.push(ciphub_domain::report::Route {
                    org: extra.clone(),
                    reason: RouteReason::Relay,
                    urgent: source.emergency,
                });
            }
        }
        let now = w.now_us;
        let id = w.fresh_id(Table::Reports).await?;
        let copied = sqlx::query(
            "INSERT INTO reports (reporter_org_id, reporter_user, formation, via_org_id, relay_of, \
             title, description, cause, scope, detected_us, occurred_us, schema_id, answers, level, \
             emergency, score, tlp, stage, initial_us, initial_due_us, next_stage, next_due_us, \
             created_us, updated_us, id, seq, exercise_run_id, exercise_inject) SELECT $1, $2, $3, \
             NULL, id, $4, $5, cause, scope, detected_us, occurred_us, schema_id, \
             COALESCE($9, answers), COALESCE($10, level), COALESCE($11, emergency), \
             CASE WHEN $9 IS NULL THEN score ELSE $12 END, tlp, stage, $6, initial_due_us, NULL, \
             NULL, $6, $6, $8, (SELECT COALESCE(MAX(seq), 0) + 1 FROM reports), exercise_run_id, \
             exercise_inject FROM reports WHERE id = $7",
        )
        .bind(ceptoar_id)
        .bind(by.name.as_str())
        .bind(Formation::Ministry.as_str())
        .bind(title)
        .bind(description)
        .bind(now)
        .bind(source.id)
        .bind(id)
        .bind(
            assessed
                .map(|a| serde_json::to_string(&a.answers))
                .transpose()
                .map_err(corrupt)?,
        )
        .bind(assessed.map(|a| i64::from(a.level)))
        .bind(assessed.map(|a| i64::from(a.emergency)))
        .bind(assessed.and_then(|a| a.score))
        .execute(&mut *w.tx)
        .await?;
        if copied.rows_affected() == 0 {
            return Err(StoreError::not_found("report", source.id));
        }
        insert_sectors_and_services(&mut w, id, &source.sectors, &source.services).await?;
        insert_stage(
            &mut w,
            id,
            Stage::Initial,
            by.name.as_str(),
            "relayed by the CEPTOAR secretariat",
            assessed.map_or(source.level, |a| a.level),
        )
        .await?;
        let mut resolved = Vec::with_capacity(routes.len());
        for r in routes {
            resolved.push((org_id(&mut w.tx, &r.org).await?, r));
        }
        let recipients = deliver_new(&mut w, id, &resolved).await?;
        sqlx::query(
            "UPDATE report_recipients SET status = $3 WHERE report_id = $1 AND org_id = $2",
        )
        .bind(source.id)
        .bind(ceptoar_id)
        .bind(TriageStatus::Shared.as_str())
        .execute(&mut *w.tx)
        .await?;
        if let Some((run, _)) = &source.exercise {
            w.emit(crate::Event::Exercise { run: *run });
        }
        // The relay's entry names the copy, never the source: the link stays with the secretariat.
        w.audit(
            "report.relay",
            "report",
            &id.to_string(),
            json!({"recipients": recipients}),
        )
        .await?;
        w.commit().await?;
        self.report(id).await
    }

    /// The sanitized copies relayed from a report.
    pub async fn relays_of(&self, source: i64) -> Result<Vec<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM reports WHERE relay_of = $1 ORDER BY seq")
                .bind(source)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The relayed copies of each of `sources`, oldest first (sources without any are left
    /// out): one query for a list.
    pub async fn relays_of_many(
        &self,
        sources: &[i64],
    ) -> Result<HashMap<i64, Vec<i64>>, StoreError> {
        let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
        for chunk in sources.chunks(500) {
            let sql = format!(
                "SELECT relay_of, id FROM reports WHERE relay_of IN ({}) ORDER BY seq",
                self.marks(1, chunk.len())
            );
            let mut q = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            for (source, id) in q.fetch_all(&self.pool).await? {
                out.entry(source).or_default().push(id);
            }
        }
        Ok(out)
    }

    /// An organization's registered identifiers.
    pub async fn identifiers(&self, org: &Slug) -> Result<Vec<Identifier>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT i.kind, i.value FROM org_identifiers i JOIN organizations o ON o.id = i.org_id \
             WHERE o.slug = $1 ORDER BY i.kind, i.value",
        )
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(k, v)| {
                Ok(Identifier {
                    kind: k.parse::<IdentifierKind>().map_err(corrupt)?,
                    value: v,
                })
            })
            .collect()
    }

    /// Replaces an organization's registered identifiers.
    pub async fn set_identifiers(
        &self,
        org: &Slug,
        ids: &[Identifier],
        by: &By,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write(by).await?;
        let oid = org_id(&mut w.tx, org).await?;
        sqlx::query("DELETE FROM org_identifiers WHERE org_id = $1")
            .bind(oid)
            .execute(&mut *w.tx)
            .await?;
        let unique: BTreeSet<&Identifier> = ids.iter().collect();
        for i in &unique {
            sqlx::query("INSERT INTO org_identifiers (org_id, kind, value) VALUES ($1, $2, $3)")
                .bind(oid)
                .bind(i.kind.as_str())
                .bind(&i.value)
                .execute(&mut *w.tx)
                .await?;
        }
        // The values themselves identify the organization: the entry records only how many.
        w.audit(
            "organization.identifiers",
            "organization",
            org.as_str(),
            json!({"count": unique.len()}),
        )
        .await?;
        w.commit().await
    }

    /// An organization's notifications, newest first.
    pub async fn notifications(
        &self,
        org: &Slug,
        limit: u32,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let ids = self.public_ids().await?;
        let rows: Vec<NotificationRow> = sqlx::query_as(
            "SELECT n.id, n.report_id, n.kind, n.urgent, n.created_us, n.read_us, n.role FROM notifications n \
             JOIN organizations o ON o.id = n.org_id WHERE o.slug = $1 ORDER BY n.id DESC LIMIT $2",
        )
        .bind(org.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, report_id, kind, urgent, created, read, role)| NotificationRecord {
                    id: ids.hide(Kind::Notification, id),
                    report_id,
                    role,
                    kind,
                    urgent: urgent != 0,
                    created: from_us(created),
                    read: read.map(from_us),
                },
            )
            .collect())
    }

    /// Groups reports an organization received into one incident of that organization.
    pub async fn create_incident(
        &self,
        org: &Slug,
        title: &str,
        reports: &[i64],
        by: &By,
    ) -> Result<i64, StoreError> {
        let mut w = self.begin_write(by).await?;
        let oid = org_id(&mut w.tx, org).await?;
        let id = w.fresh_id(Table::Incidents).await?;
        sqlx::query(
            "INSERT INTO incidents (id, org_id, title, created_us) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(oid)
        .bind(title)
        .bind(w.now_us)
        .execute(&mut *w.tx)
        .await?;
        for (i, r) in reports.iter().enumerate() {
            let done = sqlx::query("UPDATE report_recipients SET incident_id = $3 WHERE report_id = $1 AND org_id = $2")
                .bind(r)
                .bind(oid)
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::invalid(
                    format!("reports[{i}]"),
                    format!("report {r} is not in your organization's queue"),
                ));
            }
        }
        w.audit(
            "incident.create",
            "incident",
            &id.to_string(),
            json!({"reports": reports}),
        )
        .await?;
        w.commit().await?;
        Ok(id)
    }

    /// The reports an organization grouped into one of its incidents, with the title.
    pub async fn incident(&self, org: &Slug, id: i64) -> Result<(String, Vec<i64>), StoreError> {
        let title: Option<String> = sqlx::query_scalar(
            "SELECT i.title FROM incidents i JOIN organizations o ON o.id = i.org_id WHERE i.id = $1 AND o.slug = $2",
        )
        .bind(id)
        .bind(org.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let title = title.ok_or_else(|| StoreError::not_found("incident", id))?;
        let reports = sqlx::query_scalar(
            "SELECT rr.report_id FROM report_recipients rr JOIN reports r ON r.id = rr.report_id \
             WHERE rr.incident_id = $1 ORDER BY r.seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok((title, reports))
    }
}

/// One incident in an organization's list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentSummary {
    pub id: i64,
    pub title: String,
    pub created: DateTime<Utc>,
    /// How many reports it groups.
    pub reports: i64,
}

impl Store {
    /// One page of an organization's incidents, newest first, and how many it has.
    pub async fn incidents_page(
        &self,
        org: &Slug,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<IncidentSummary>, u64), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let Some(oid): Option<i64> =
            sqlx::query_scalar("SELECT id FROM organizations WHERE slug = $1")
                .bind(org.as_str())
                .fetch_optional(&mut *conn)
                .await?
        else {
            return Ok((Vec::new(), 0));
        };
        let (total,): (i64,) = sqlx::query_as("SELECT count(*) FROM incidents WHERE org_id = $1")
            .bind(oid)
            .fetch_one(&mut *conn)
            .await?;
        let rows: Vec<(i64, String, i64, i64)> = sqlx::query_as(
            "SELECT i.id, i.title, i.created_us, \
                    (SELECT count(*) FROM report_recipients rr WHERE rr.incident_id = i.id) \
             FROM incidents i WHERE i.org_id = $1 \
             ORDER BY i.created_us DESC, i.id DESC LIMIT $2 OFFSET $3",
        )
        .bind(oid)
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&mut *conn)
        .await?;
        Ok((
            rows.into_iter()
                .map(|(id, title, created, reports)| IncidentSummary {
                    id,
                    title,
                    created: from_us(created),
                    reports,
                })
                .collect(),
            u64::try_from(total).unwrap_or(0),
        ))
    }
}

pub(crate) async fn org_id(conn: &mut sqlx::AnyConnection, org: &Slug) -> Result<i64, StoreError> {
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM organizations WHERE slug = $1")
        .bind(org.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    id.ok_or_else(|| StoreError::not_found("organization", org))
}

async fn check_sectors_and_services(
    conn: &mut sqlx::AnyConnection,
    sectors: &[Slug],
    services: &[Slug],
) -> Result<(), StoreError> {
    for (i, s) in sectors.iter().enumerate() {
        let found: Option<String> = sqlx::query_scalar("SELECT slug FROM sectors WHERE slug = $1")
            .bind(s.as_str())
            .fetch_optional(&mut *conn)
            .await?;
        if found.is_none() {
            return Err(StoreError::invalid(
                format!("sectors[{i}]"),
                format!("unknown sector {s:?}; GET /api/v1/sectors lists them"),
            ));
        }
    }
    for (i, s) in services.iter().enumerate() {
        let sector: Option<String> =
            sqlx::query_scalar("SELECT sector FROM services WHERE slug = $1")
                .bind(s.as_str())
                .fetch_optional(&mut *conn)
                .await?;
        match sector {
            None => {
                return Err(StoreError::invalid(
                    format!("services[{i}]"),
                    format!("unknown service {s:?}"),
                ));
            }
            Some(sec) if !sectors.iter().any(|x| x.as_str() == sec) => {
                return Err(StoreError::invalid(
                    format!("services[{i}]"),
                    format!(
                        "service {s:?} belongs to sector {sec:?}, which is not among the report's sectors"
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The CEPTOAR or agency a report goes through, checked against the registry.
async fn resolve_via(
    conn: &mut sqlx::AnyConnection,
    reporter_org_id: i64,
    new: &NewReport,
) -> Result<Option<Slug>, StoreError> {
    match new.formation {
        Formation::Ministry => Ok(None),
        Formation::Agency => {
            let Some(via) = &new.via else {
                return Err(StoreError::invalid(
                    "via",
                    "the agency formation needs the agency's slug",
                ));
            };
            let kind: Option<String> =
                sqlx::query_scalar("SELECT kind FROM organizations WHERE slug = $1")
                    .bind(via.as_str())
                    .fetch_optional(&mut *conn)
                    .await?;
            match kind.as_deref() {
                Some("agency") => Ok(Some(via.clone())),
                Some(other) => Err(StoreError::invalid(
                    "via",
                    format!("{via:?} is a {other}, not a cybersecurity agency"),
                )),
                None => Err(StoreError::invalid(
                    "via",
                    format!("organization {via:?} does not exist"),
                )),
            }
        }
        Formation::CeptoarAnonymous => {
            let mut candidates: BTreeSet<String> = BTreeSet::new();
            for s in &new.sectors {
                let rows: Vec<String> = sqlx::query_scalar(
                    "SELECT g.slug FROM memberships m JOIN organizations g ON g.id = m.group_id \
                     JOIN org_sectors gs ON gs.org_id = g.id WHERE m.member_id = $1 \
                     AND g.kind = 'ceptoar' AND gs.sector = $2",
                )
                .bind(reporter_org_id)
                .bind(s.as_str())
                .fetch_all(&mut *conn)
                .await?;
                candidates.extend(rows);
            }
            match (&new.via, candidates.len()) {
                (Some(v), _) if candidates.contains(v.as_str()) => Ok(Some(v.clone())),
                (Some(v), _) => Err(StoreError::invalid(
                    "via",
                    format!(
                        "your organization is not a member of CEPTOAR {v:?} for the report's sectors"
                    ),
                )),
                (None, 0) => Err(StoreError::invalid(
                    "formation",
                    "your organization is not a member of a CEPTOAR for the report's sectors; use the ministry formation",
                )),
                (None, 1) => candidates
                    .into_iter()
                    .next()
                    .map(|c| slug(&c).map(Some))
                    .unwrap_or(Ok(None)),
                (None, _) => Err(StoreError::invalid(
                    "via",
                    format!(
                        "choose the CEPTOAR to report through: {}",
                        candidates.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                )),
            }
        }
    }
}

async fn routing_facts(
    conn: &mut sqlx::AnyConnection,
    formation: Formation,
    sectors: &[Slug],
    via: Option<Slug>,
    emergency: bool,
) -> Result<RoutingFacts, StoreError> {
    let mut ministries: Vec<Slug> = Vec::new();
    for s in sectors {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT o.slug FROM responsibilities r JOIN organizations o ON o.id = r.org_id WHERE r.sector = $1 ORDER BY o.slug",
        )
        .bind(s.as_str())
        .fetch_all(&mut *conn)
        .await?;
        for m in rows {
            let m = slug(&m)?;
            if !ministries.contains(&m) {
                ministries.push(m);
            }
        }
    }
    let coordinator: Option<String> = sqlx::query_scalar(
        "SELECT slug FROM organizations WHERE kind = 'coordinator' ORDER BY id LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(RoutingFacts {
        formation,
        responsible_ministries: ministries,
        coordinator: coordinator.map(|c| slug(&c)).transpose()?,
        via,
        emergency,
    })
}

/// What filing a report needs from the registry, read before the write.
pub(crate) struct Filing {
    reporter_org_id: i64,
    via_id: Option<i64>,
    routes: Vec<(i64, ciphub_domain::report::Route)>,
}

/// Inserts a report, its first stage and its recipients' queues, and audits it (hiding the
/// actor when it is anonymous). Returns its id.
pub(crate) async fn insert_filing(
    w: &mut WriteTx,
    filing: &Filing,
    reporter_name: &str,
    new: &NewReport,
    deadlines: StageDeadlines,
) -> Result<i64, StoreError> {
    let now = w.now_us;
    let initial_due = to_us(new.detected + deadlines.initial);
    let due = next_due(deadlines, from_us(now), &[Stage::Initial].into());
    let answers = serde_json::to_string(&new.answers).map_err(corrupt)?;
    let id = w.fresh_id(Table::Reports).await?;
    sqlx::query(
            "INSERT INTO reports (reporter_org_id, reporter_user, formation, via_org_id, consent_us, \
             title, description, cause, scope, detected_us, occurred_us, schema_id, answers, level, \
             emergency, score, tlp, stage, initial_us, initial_due_us, next_stage, next_due_us, \
             created_us, updated_us, id, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
             $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $19, $19, $23, \
             (SELECT COALESCE(MAX(seq), 0) + 1 FROM reports))",
        )
        .bind(filing.reporter_org_id)
        .bind(reporter_name)
        .bind(new.formation.as_str())
        .bind(filing.via_id)
        .bind(new.consent_named.then_some(now))
        .bind(&new.title)
        .bind(&new.description)
        .bind(new.cause.as_str())
        .bind(scope_text(&new.scope))
        .bind(to_us(new.detected))
        .bind(new.occurred.map(to_us))
        .bind(&new.schema)
        .bind(answers)
        .bind(i64::from(new.level))
        .bind(i64::from(new.emergency))
        .bind(new.score)
        .bind(new.tlp.as_str())
        .bind(Stage::Initial.as_str())
        .bind(now)
        .bind(initial_due)
        .bind(due.map(|d| d.stage.as_str()))
        .bind(due.map(|d| to_us(d.by)))
        .bind(id)
        .execute(&mut *w.tx)
        .await?;
    insert_sectors_and_services(w, id, &new.sectors, &new.services).await?;
    insert_stage(
        w,
        id,
        Stage::Initial,
        reporter_name,
        "initial report",
        new.level,
    )
    .await?;
    let recipients = deliver_new(w, id, &filing.routes).await?;
    let detail = json!({"formation": new.formation, "level": new.level, "recipients": recipients});
    if new.formation == Formation::CeptoarAnonymous {
        w.audit_restricted("report.file", "report", &id.to_string(), detail)
            .await?;
    } else {
        w.audit("report.file", "report", &id.to_string(), detail)
            .await?;
    }
    Ok(id)
}

/// Marks a report as part of an exercise run, about one of its injects.
pub(crate) async fn mark_exercise_report(
    w: &mut WriteTx,
    id: i64,
    run: i64,
    inject: &Slug,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE reports SET exercise_run_id = $2, exercise_inject = $3 WHERE id = $1")
        .bind(id)
        .bind(run)
        .bind(inject.as_str())
        .execute(&mut *w.tx)
        .await?;
    w.emit(crate::Event::Exercise { run });
    Ok(())
}

async fn insert_sectors_and_services(
    w: &mut WriteTx,
    id: i64,
    sectors: &[Slug],
    services: &[Slug],
) -> Result<(), StoreError> {
    for s in sectors {
        sqlx::query("INSERT INTO report_sectors (report_id, sector) VALUES ($1, $2)")
            .bind(id)
            .bind(s.as_str())
            .execute(&mut *w.tx)
            .await?;
    }
    for s in services {
        sqlx::query("INSERT INTO report_services (report_id, service) VALUES ($1, $2)")
            .bind(id)
            .bind(s.as_str())
            .execute(&mut *w.tx)
            .await?;
    }
    Ok(())
}

/// Queues a new report for each routed organization (with its id) and notifies it; the duty
/// desk's notification is marked for the duty role. Returns the recipients' slugs.
async fn deliver_new(
    w: &mut WriteTx,
    id: i64,
    routes: &[(i64, ciphub_domain::report::Route)],
) -> Result<Vec<String>, StoreError> {
    let mut recipients = Vec::with_capacity(routes.len());
    for (org, r) in routes {
        add_recipient(w, id, *org, r.reason, r.urgent).await?;
        let role = (r.reason == RouteReason::EmergencyDuty).then_some("duty");
        notify(w, *org, id, "report.new", r.urgent, role).await?;
        recipients.push(r.org.to_string());
    }
    Ok(recipients)
}

async fn insert_stage(
    w: &mut WriteTx,
    id: i64,
    stage: Stage,
    by: &str,
    summary: &str,
    level: u8,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO report_stages (report_id, stage, filed_us, by_user, summary, level) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(stage.as_str())
        .bind(w.now_us)
        .bind(by)
        .bind(summary)
        .bind(i64::from(level))
        .execute(&mut *w.tx)
        .await?;
    Ok(())
}

async fn add_recipient(
    w: &mut WriteTx,
    report: i64,
    org: i64,
    reason: RouteReason,
    urgent: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO report_recipients (report_id, org_id, reason, urgent, added_us, status) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(report)
    .bind(org)
    .bind(reason.as_str())
    .bind(i64::from(urgent))
    .bind(w.now_us)
    .bind(TriageStatus::New.as_str())
    .execute(&mut *w.tx)
    .await?;
    Ok(())
}

async fn notify(
    w: &mut WriteTx,
    org: i64,
    report: i64,
    kind: &str,
    urgent: bool,
    role: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO notifications (org_id, report_id, kind, urgent, created_us, role) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(org)
    .bind(report)
    .bind(kind)
    .bind(i64::from(urgent))
    .bind(w.now_us)
    .bind(role)
    .execute(&mut *w.tx)
    .await?;
    Ok(())
}

/// id, report, kind, urgent, created, read, role.
type NotificationRow = (i64, i64, String, i64, i64, Option<i64>, Option<String>);

/// org, reason, urgent, added, status, assignee, incident.
type RecipientRow = (
    String,
    String,
    i64,
    i64,
    String,
    Option<String>,
    Option<i64>,
);

async fn load_record(
    conn: &mut sqlx::AnyConnection,
    row: ReportRow,
) -> Result<ReportRecord, StoreError> {
    load_records(conn, vec![row])
        .await?
        .pop()
        .ok_or_else(|| StoreError::Corrupt("a report read did not come back".into()))
}

/// Reports with their sectors, services, stages and recipients: four queries for all of them,
/// not four each (over TCP to PostgreSQL, a list of 50 took 200 round trips).
async fn load_records(
    conn: &mut sqlx::AnyConnection,
    rows: Vec<ReportRow>,
) -> Result<Vec<ReportRecord>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let marks = crate::taxii::placeholders(1, ids.len());
    let mut sectors: HashMap<i64, Vec<String>> = HashMap::new();
    let mut q = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(format!(
        "SELECT rs.report_id, rs.sector FROM report_sectors rs JOIN sectors s ON s.slug = rs.sector \
         WHERE rs.report_id IN ({marks}) ORDER BY rs.report_id, s.position"
    )));
    for id in &ids {
        q = q.bind(*id);
    }
    for (id, sector) in q.fetch_all(&mut *conn).await? {
        sectors.entry(id).or_default().push(sector);
    }
    let mut services: HashMap<i64, Vec<String>> = HashMap::new();
    let mut q = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(format!(
        "SELECT report_id, service FROM report_services WHERE report_id IN ({marks}) \
         ORDER BY report_id, service"
    )));
    for id in &ids {
        q = q.bind(*id);
    }
    for (id, service) in q.fetch_all(&mut *conn).await? {
        services.entry(id).or_default().push(service);
    }
    type StageRow = (String, i64, String, String, i64);
    let mut stages: HashMap<i64, Vec<StageRow>> = HashMap::new();
    let mut q =
        sqlx::query_as::<_, (i64, String, i64, String, String, i64)>(sqlx::AssertSqlSafe(format!(
            "SELECT report_id, stage, filed_us, by_user, summary, level FROM report_stages \
             WHERE report_id IN ({marks}) ORDER BY report_id, id"
        )));
    for id in &ids {
        q = q.bind(*id);
    }
    for (id, stage, filed, by_user, summary, level) in q.fetch_all(&mut *conn).await? {
        stages
            .entry(id)
            .or_default()
            .push((stage, filed, by_user, summary, level));
    }
    let mut recipients: HashMap<i64, Vec<RecipientRow>> = HashMap::new();
    let mut q = sqlx::query_as::<
        _,
        (
            i64,
            String,
            String,
            i64,
            i64,
            String,
            Option<String>,
            Option<i64>,
        ),
    >(sqlx::AssertSqlSafe(format!(
        "SELECT rr.report_id, o.slug, rr.reason, rr.urgent, rr.added_us, rr.status, rr.assignee, \
         rr.incident_id FROM report_recipients rr JOIN organizations o ON o.id = rr.org_id \
         WHERE rr.report_id IN ({marks}) ORDER BY rr.report_id, rr.added_us, o.slug"
    )));
    for id in &ids {
        q = q.bind(*id);
    }
    for (id, org, reason, urgent, added, status, assignee, incident) in
        q.fetch_all(&mut *conn).await?
    {
        recipients
            .entry(id)
            .or_default()
            .push((org, reason, urgent, added, status, assignee, incident));
    }
    rows.into_iter()
        .map(|row| {
            let id = row.id;
            assemble(
                row,
                sectors.remove(&id).unwrap_or_default(),
                services.remove(&id).unwrap_or_default(),
                stages.remove(&id).unwrap_or_default(),
                recipients.remove(&id).unwrap_or_default(),
            )
        })
        .collect()
}

/// A report from its row and the rows of its lists.
fn assemble(
    row: ReportRow,
    sectors: Vec<String>,
    services: Vec<String>,
    stages: Vec<(String, i64, String, String, i64)>,
    recipients: Vec<RecipientRow>,
) -> Result<ReportRecord, StoreError> {
    let id = row.id;
    let scope = row
        .scope
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<TechScope>().map_err(corrupt))
        .collect::<Result<_, _>>()?;
    let answers: BTreeMap<String, String> = serde_json::from_str(&row.answers).map_err(corrupt)?;
    let next_due = match (row.next_stage, row.next_due_us) {
        (Some(stage), Some(by)) => Some(Due {
            stage: stage.parse().map_err(corrupt)?,
            by: from_us(by),
        }),
        _ => None,
    };
    Ok(ReportRecord {
        id,
        reporter_org: slug(&row.reporter_org)?,
        reporter_user: row.reporter_user,
        formation: row.formation.parse().map_err(corrupt)?,
        via: row.via.as_deref().map(slug).transpose()?,
        consent: row.consent_us.map(from_us),
        relay_of: row.relay_of,
        title: row.title,
        description: row.description,
        cause: row.cause.parse().map_err(corrupt)?,
        scope,
        sectors: sectors.iter().map(|s| slug(s)).collect::<Result<_, _>>()?,
        services: services.iter().map(|s| slug(s)).collect::<Result<_, _>>()?,
        detected: from_us(row.detected_us),
        occurred: row.occurred_us.map(from_us),
        schema: row.schema_id,
        answers,
        level: u8::try_from(row.level).map_err(corrupt)?,
        emergency: row.emergency != 0,
        score: row.score,
        tlp: row.tlp.parse().map_err(corrupt)?,
        stage: row.stage.parse().map_err(corrupt)?,
        initial_at: from_us(row.initial_us),
        initial_due: from_us(row.initial_due_us),
        next_due,
        created: from_us(row.created_us),
        updated: from_us(row.updated_us),
        exercise: match (row.exercise_run_id, row.exercise_inject) {
            (Some(run), Some(inject)) => Some((run, slug(&inject)?)),
            _ => None,
        },
        stages: stages
            .into_iter()
            .map(|(stage, filed, by_user, summary, level)| {
                Ok(StageRecord {
                    stage: stage.parse().map_err(corrupt)?,
                    filed: from_us(filed),
                    by_user,
                    summary,
                    level: u8::try_from(level).map_err(corrupt)?,
                })
            })
            .collect::<Result<_, StoreError>>()?,
        recipients: recipients
            .into_iter()
            .map(|(org, reason, urgent, added, status, assignee, incident)| {
                Ok(RecipientRecord {
                    org: slug(&org)?,
                    reason: reason.parse().map_err(corrupt)?,
                    urgent: urgent != 0,
                    added: from_us(added),
                    status: status.parse().map_err(corrupt)?,
                    assignee,
                    incident,
                })
            })
            .collect::<Result<_, StoreError>>()?,
    })
}
