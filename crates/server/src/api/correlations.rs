//! `/api/v1/correlations`: the reports, alerts and STIX objects that share an observable, as
//! the caller may see them. Items the caller may read are listed (an anonymous report as its
//! sector's placeholder); the others are only counted, and only when they come from at least
//! `k` organizations (`policy::correlation`).

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::{Query, State};
use ciphub_domain::correlation::Observable;
use ciphub_domain::policy::correlation::{self, Member};
use ciphub_store::CorrelationRow;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Authed;
use crate::error::AppError;
use crate::path::ApiPath;

/// Items read per value: the newest; older ones count only when they are newer than these.
const ITEMS_PER_VALUE: u32 = 200;

/// Which correlations to list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CorrelationQuery {
    /// The values of one item the caller may read: `report:<id>`, `alert:<id>` or
    /// `stix:<object id>`.
    pub item: Option<String>,
    /// One value, written any usual way (`hxxp://evil[.]example`, a hash, `CVE-2024-3400`).
    pub value: Option<String>,
    /// Without `item` or `value`: values shared in this many past days (default 30, 1 to 366).
    #[param(minimum = 1, maximum = 366)]
    pub days: Option<u32>,
    /// At most this many values (default 20, 1 to 100).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// One item that holds a value.
#[derive(Serialize, ToSchema, Clone)]
pub struct LinkedItemJson {
    /// `report:<id>`, `alert:<id>` or `stix:<object id>`.
    pub item: String,
    /// `report`, `alert` or `stix`.
    pub kind: String,
    /// What the item is called.
    pub title: String,
    /// Who it comes from: the organization, or for an anonymous report the sector's
    /// placeholder; for STIX objects where they came from (`taxii`, `misp`, `federation`).
    pub source: String,
    pub sectors: Vec<String>,
    /// When the value was found in it.
    pub found_at: String,
}

impl LinkedItemJson {
    /// The page of the item, where it has one.
    pub fn page(&self) -> Option<String> {
        match self.item.split_once(':') {
            Some(("report", id)) => Some(format!("/reports/{id}")),
            Some(("alert", id)) => Some(format!("/alerts/{id}")),
            _ => None,
        }
    }
}

/// Items the caller may not read: only how many.
#[derive(Serialize, ToSchema)]
pub struct HiddenJson {
    pub items: usize,
    pub organizations: usize,
    /// Sectors with at least `k` of those organizations, and how many.
    pub sectors: BTreeMap<String, usize>,
}

/// A value and the items that share it.
#[derive(Serialize, ToSchema)]
pub struct ClusterJson {
    /// `ipv4-addr`, `ipv6-addr`, `domain-name`, `url`, `email-addr`, `md5`, `sha1`, `sha256`,
    /// `cve` or `attack-technique`.
    pub kind: String,
    pub value: String,
    pub items: Vec<LinkedItemJson>,
    /// Present only when at least `k` organizations hold items the caller may not read.
    pub hidden: Option<HiddenJson>,
}

/// Correlations as the caller sees them.
#[derive(Serialize, ToSchema)]
pub struct CorrelationsJson {
    /// The smallest group of organizations counted in `hidden`.
    pub k: usize,
    pub clusters: Vec<ClusterJson>,
}

/// The values shared by reports, alerts and STIX objects: of one item, one value, or the
/// values most shared across organizations lately.
#[utoipa::path(get, path = "/api/v1/correlations", tag = "correlations", params(CorrelationQuery),
    responses((status = 200, body = CorrelationsJson), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 422, description = "A value that is none of the kinds correlated, or both an item and a value", body = crate::error::ErrorBody)))]
pub async fn list_correlations(
    State(state): State<AppState>,
    authed: Authed,
    query: Result<Query<CorrelationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<CorrelationsJson>, AppError> {
    let Query(q) = query.map_err(|e| AppError::malformed("invalid_query", e.body_text(), None))?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(AppError::malformed(
            "invalid_query",
            "limit must be from 1 to 100",
            None,
        ));
    }
    let days = q.days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(AppError::malformed(
            "invalid_query",
            "days must be from 1 to 366",
            None,
        ));
    }
    let k = state.config.correlation_k;
    let mut resolver = Resolver::new(&state, &authed);
    let mut clusters = Vec::new();
    match (&q.item, &q.value) {
        (Some(_), Some(_)) => {
            return Err(AppError::invalid(
                "value",
                "ask for an item or a value, not both",
            ));
        }
        (Some(item), None) => {
            // The caller must be able to read the item: otherwise it does not exist for them.
            if resolver.resolve(item).await?.is_none() {
                return Err(AppError::NotFound(format!("item {item} does not exist")));
            }
            let values = state.store.values_of(item).await?;
            let holding = state
                .store
                .items_holding_each(&values, ITEMS_PER_VALUE)
                .await?;
            for (value, rows) in values.iter().zip(holding) {
                if let Some(c) = cluster(&mut resolver, value, rows, Some(item), k).await? {
                    clusters.push(c);
                }
                if clusters.len() >= limit as usize {
                    break;
                }
            }
        }
        (None, Some(text)) => {
            let value = Observable::parse(text).ok_or_else(|| {
                AppError::invalid(
                    "value",
                    format!("{text:?} is no address, domain, URL, e-mail address, hash, CVE or ATT&CK id"),
                )
            })?;
            let rows = state.store.items_holding(&value, ITEMS_PER_VALUE).await?;
            if let Some(c) = cluster(&mut resolver, &value, rows, None, k).await? {
                clusters.push(c);
            }
        }
        (None, None) => {
            let since =
                state.store.clock().now().timestamp_micros() - i64::from(days) * 86_400_000_000;
            // Values held by the most organizations first; the caller may see fewer of them.
            let busy: Vec<Observable> = state
                .store
                .busy_values(since, limit * 5)
                .await?
                .into_iter()
                .map(|b| b.value)
                .collect();
            let holding = state
                .store
                .items_holding_each(&busy, ITEMS_PER_VALUE)
                .await?;
            for (value, rows) in busy.iter().zip(holding) {
                if let Some(c) = cluster(&mut resolver, value, rows, None, k).await?
                    && (c.items.len() >= 2 || c.hidden.is_some())
                {
                    clusters.push(c);
                }
                if clusters.len() >= limit as usize {
                    break;
                }
            }
        }
    }
    Ok(Json(CorrelationsJson { k, clusters }))
}

/// The correlations of one report, as `GET /api/v1/correlations?item=report:<id>`.
#[utoipa::path(get, path = "/api/v1/reports/{id}/correlations", tag = "correlations",
    params(("id" = i64, Path, description = "The report's id")),
    responses((status = 200, body = CorrelationsJson), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_report_correlations(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<CorrelationsJson>, AppError> {
    list_correlations(
        State(state),
        authed,
        Ok(Query(CorrelationQuery {
            item: Some(format!("report:{id}")),
            value: None,
            days: None,
            limit: Some(100),
        })),
    )
    .await
}

/// What the caller sees of `rows`, the items holding `value`, other than `except`; `None`
/// when nothing links.
async fn cluster(
    resolver: &mut Resolver<'_>,
    value: &Observable,
    rows: Vec<CorrelationRow>,
    except: Option<&str>,
    k: usize,
) -> Result<Option<ClusterJson>, AppError> {
    let rows: Vec<CorrelationRow> = rows
        .into_iter()
        .filter(|r| Some(r.item.as_str()) != except)
        .collect();
    let mut members = Vec::with_capacity(rows.len());
    let mut seen = Vec::with_capacity(rows.len());
    for r in &rows {
        let linked = resolver.resolve(&r.item).await?;
        members.push(Member {
            readable: linked.is_some(),
            org: r.org_id,
            sectors: r.sector_list(),
        });
        seen.push(linked.map(|mut l| {
            l.found_at = crate::api::rfc3339(
                chrono::DateTime::from_timestamp_micros(r.added_us).unwrap_or_default(),
            );
            l
        }));
    }
    let view = correlation::view(&members, k);
    if !view.links(0) {
        return Ok(None);
    }
    Ok(Some(ClusterJson {
        kind: value.kind.as_str().to_owned(),
        value: value.value.clone(),
        items: view.shown.iter().filter_map(|i| seen[*i].clone()).collect(),
        hidden: view.hidden.map(|h| HiddenJson {
            items: h.items,
            organizations: h.organizations,
            sectors: h.sectors,
        }),
    }))
}

/// Answers, once per request, whether the caller may read an item and how it looks to them.
struct Resolver<'a> {
    state: &'a AppState,
    authed: &'a Authed,
    known: HashMap<String, Option<LinkedItemJson>>,
    sector_names: Option<BTreeMap<String, String>>,
}

impl<'a> Resolver<'a> {
    fn new(state: &'a AppState, authed: &'a Authed) -> Self {
        Self {
            state,
            authed,
            known: HashMap::new(),
            sector_names: None,
        }
    }

    async fn resolve(&mut self, item: &str) -> Result<Option<LinkedItemJson>, AppError> {
        if let Some(known) = self.known.get(item) {
            return Ok(known.clone());
        }
        let found = match item.split_once(':') {
            Some(("report", id)) => match id.parse::<i64>() {
                Ok(id) => self.report(item, id).await?,
                Err(_) => None,
            },
            Some(("alert", id)) => match id.parse::<i64>() {
                Ok(id) => self.alert(item, id).await?,
                Err(_) => None,
            },
            Some(("stix", id)) => self.stix(item, id).await?,
            _ => None,
        };
        self.known.insert(item.to_owned(), found.clone());
        Ok(found)
    }

    /// A report whose text the caller reads (a value found in text the caller may not read
    /// is not theirs to see).
    async fn report(&mut self, item: &str, id: i64) -> Result<Option<LinkedItemJson>, AppError> {
        let r = match crate::api::reports::get_report(
            State(self.state.clone()),
            self.authed.clone(),
            ApiPath(id),
        )
        .await
        {
            Ok(Json(r)) => r,
            Err(AppError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        if !r.content_visible {
            return Ok(None);
        }
        if self.sector_names.is_none() {
            self.sector_names = Some(self.state.store.sector_names().await?);
        }
        let names = self.sector_names.as_ref().map_or_else(Vec::new, |n| {
            r.sectors
                .iter()
                .map(|s| n.get(s).cloned().unwrap_or_else(|| s.clone()))
                .collect()
        });
        // An anonymous report joins as its sector's placeholder, whoever reads it.
        let source = if r.formation == "ceptoar-anonymous" || r.relayed_copy {
            ciphub_domain::report::anonymous_reporter(&names)
        } else {
            r.reporter_label.clone()
        };
        Ok(Some(LinkedItemJson {
            item: item.to_owned(),
            kind: "report".into(),
            title: r.title.clone().unwrap_or_else(|| format!("Report {id}")),
            source,
            sectors: r.sectors.clone(),
            found_at: String::new(),
        }))
    }

    async fn alert(&mut self, item: &str, id: i64) -> Result<Option<LinkedItemJson>, AppError> {
        let actor = self.authed.actor();
        let a = match crate::api::alerts::load_visible(self.state, &actor, id).await {
            Ok((a, _)) => a,
            Err(AppError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let source = self
            .state
            .store
            .organization_name(&a.sender_org)
            .await
            .unwrap_or_else(|_| a.sender_org.to_string());
        Ok(Some(LinkedItemJson {
            item: item.to_owned(),
            kind: "alert".into(),
            title: a.title,
            source,
            sectors: Vec::new(),
            found_at: String::new(),
        }))
    }

    async fn stix(
        &mut self,
        item: &str,
        object_id: &str,
    ) -> Result<Option<LinkedItemJson>, AppError> {
        let Some(row) =
            crate::taxii::readable_community_object(self.state, self.authed, object_id).await?
        else {
            return Ok(None);
        };
        let body: serde_json::Value = serde_json::from_str(&row.body).unwrap_or_default();
        let title = body.get("name").and_then(|n| n.as_str()).map_or_else(
            || format!("{} {}", row.object_type, row.object_id),
            str::to_owned,
        );
        let source = row.origin.split(':').next().unwrap_or("taxii").to_owned();
        Ok(Some(LinkedItemJson {
            item: item.to_owned(),
            kind: "stix".into(),
            title,
            source,
            sectors: Vec::new(),
            found_at: String::new(),
        }))
    }
}
