//! Alert pages: the inbox with acknowledge, one alert with its delivery table, and the
//! composer with a preview of who an alert will reach under its label and audience.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use ciphub_domain::alert::{Community, resolve_audience};
use ciphub_store::OrgFilter;
use serde::Deserialize;

use super::picker::{PickOption, Picker, Search};
use super::table::{self, CSV_MAX_ROWS, Table, TableQuery};
use super::{Ctx, FormData, Posted, WebUser, app_error, render};
use crate::AppState;
use crate::api::alerts::{
    AlertJson, AlertQuery, AudienceJson, DeliveryJson, NewAlertJson, RelayAlertJson, ack_alert,
    create_alert, get_alert, list_alerts, relay_alert,
};
use crate::error::AppError;
use crate::path::ApiPath;

#[derive(Template)]
#[template(path = "web/inbox.html")]
struct InboxPage {
    ctx: Ctx,
    alerts: Vec<AlertJson>,
    query: InboxQuery,
    /// The `before` of the next (older) page, when there may be more.
    next: Option<i64>,
}

impl InboxPage {
    /// Delivered to the user's organization and not yet opened by anyone of it.
    fn is_unread(&self, a: &AlertJson) -> bool {
        a.my_delivery.as_ref().is_some_and(|d| d.read_at.is_none())
    }

    fn unread(&self) -> usize {
        self.alerts.iter().filter(|a| self.is_unread(a)).count()
    }

    /// `/alerts` with the inbox's search and filter and one more pair.
    fn url_with(&self, key: &str, value: &str) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if !self.query.q.trim().is_empty() {
            q.append_pair("q", self.query.q.trim());
        }
        if !self.query.show.is_empty() {
            q.append_pair("show", &self.query.show);
        }
        q.append_pair(key, value);
        format!("/alerts?{}", q.finish())
    }

    /// Every matching alert as CSV, same search.
    fn csv_url(&self) -> String {
        self.url_with("format", "csv")
    }

    /// The URL of the older alerts, same search.
    fn older_url(&self, before: &i64) -> String {
        self.url_with("before", &before.to_string())
    }
}

/// The inbox's search, filter and place in the URL.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct InboxQuery {
    /// Text in the title or body, any case.
    #[serde(default)]
    pub q: String,
    /// all, unread or unacknowledged.
    #[serde(default)]
    pub show: String,
    /// Alerts older than this one (text: a bad value starts from the newest).
    #[serde(default)]
    pub before: String,
    /// `csv` for every matching alert as CSV.
    #[serde(default)]
    pub format: String,
}

/// Alerts an inbox page shows, and alerts one page reads at most while searching.
const INBOX_PAGE: usize = 50;
const INBOX_SCAN: usize = 2_000;

pub async fn inbox(
    State(state): State<AppState>,
    user: WebUser,
    Query(query): Query<InboxQuery>,
) -> Response {
    let mut ctx = user.ctx();
    let needle = query.q.trim().to_lowercase();
    let keep = |a: &AlertJson| {
        let shown = match query.show.as_str() {
            "unread" => a.my_delivery.as_ref().is_some_and(|d| d.read_at.is_none()),
            "unacknowledged" => a
                .my_delivery
                .as_ref()
                .is_some_and(|d| d.acknowledged_at.is_none()),
            _ => true,
        };
        shown
            && (needle.is_empty()
                || a.title.to_lowercase().contains(&needle)
                || a.body.to_lowercase().contains(&needle))
    };
    // Newest first, read in pages of 200 until a page is full or 2,000 have been searched;
    // the older link goes on from where this stopped. The CSV holds every match among the
    // newest 100,000 from where the inbox stands.
    let csv = query.format == "csv";
    let bounds = if csv {
        (CSV_MAX_ROWS, CSV_MAX_ROWS)
    } else {
        (INBOX_PAGE, INBOX_SCAN)
    };
    let scanned = table::scan_newest(
        query.before.trim().parse::<i64>().ok(),
        bounds,
        |before| {
            let state = state.clone();
            let authed = user.authed();
            async move {
                list_alerts(
                    State(state),
                    authed,
                    Ok(Query(AlertQuery {
                        before,
                        limit: Some(table::SCAN_BATCH as u32),
                        exercise: None,
                    })),
                )
                .await
                .map(|b| b.0)
            }
        },
        |a: &AlertJson| a.id,
        keep,
    )
    .await;
    let (alerts, next) = match scanned {
        Ok(found) => found,
        Err(e) => return app_error(&ctx, &e),
    };
    ctx.name_orgs(&state, alerts.iter().map(|a| a.sender_org.as_str()))
        .await;
    if csv {
        let header = [
            ctx.t("report-id"),
            ctx.t("alert-sent"),
            "TLP".to_owned(),
            ctx.t("report-title"),
            ctx.t("alert-from"),
            ctx.t("delivery-read"),
            ctx.t("delivery-acked"),
        ];
        let at = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|t| ctx.exact_time(t.with_timezone(&chrono::Utc)))
                .unwrap_or_else(|_| t.to_owned())
        };
        let rows: Vec<Vec<String>> = alerts
            .iter()
            .map(|a| {
                let d = a.my_delivery.as_ref();
                vec![
                    a.id.to_string(),
                    at(&a.created_at),
                    a.tlp.clone(),
                    a.title.clone(),
                    ctx.org(&a.sender_org),
                    d.and_then(|d| d.read_at.as_deref())
                        .map(at)
                        .unwrap_or_default(),
                    d.and_then(|d| d.acknowledged_at.as_deref())
                        .map(at)
                        .unwrap_or_default(),
                ]
            })
            .collect();
        return table::csv("alerts", &header, &rows);
    }
    render(&InboxPage {
        ctx,
        alerts,
        query,
        next,
    })
}

#[derive(Template)]
#[template(path = "web/alert.html")]
struct AlertPage {
    ctx: Ctx,
    alert: AlertJson,
    /// For the sender's organization: one page of the delivery table, as filtered.
    delivery: Option<Vec<DeliveryJson>>,
    /// Recipients, read, acknowledged (of the whole table).
    summary: Option<(usize, usize, usize)>,
    /// The table's filters, page and the rows they match in all; the sectors to filter by
    /// (id, name).
    table: Table,
    sectors: Vec<(String, String)>,
    /// Values it shares with other items the caller may read.
    related: Vec<crate::api::correlations::ClusterJson>,
}

impl AlertPage {
    /// For a secretariat the alert was delivered to: whether its label lets it be passed on
    /// (`Ok`), or why not, in the page's language. `None`: not this user's to pass on.
    fn pass_on(&self) -> Option<Result<(), String>> {
        if !self.ctx.is_secretariat || self.alert.my_delivery.is_none() {
            return None;
        }
        let tlp: ciphub_domain::report::Tlp = self.alert.tlp.parse().ok()?;
        Some(
            ciphub_domain::policy::alerts::may_relay(tlp, self.alert.clients_permitted).map_err(
                |_| {
                    self.ctx
                        .t1("alert-relay-not-allowed", "tlp", self.alert.tlp.as_str())
                },
            ),
        )
    }
}

/// Whether a message was asked for after a redirect, and the delivery table's filters and
/// page, kept in the URL.
#[derive(Deserialize)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
    #[serde(flatten)]
    table: TableQuery,
}

/// Rows of the delivery table a page shows.
const DELIVERY_PAGE: usize = 50;

pub async fn detail(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
    Query(done): Query<Done>,
) -> Response {
    let mut ctx = user.ctx();
    let alert = match get_alert(State(state.clone()), user.authed(), ApiPath(id)).await {
        Ok(a) => a.0,
        Err(e) => return app_error(&ctx, &e),
    };
    if done.done.is_some() {
        ctx.flash = Some(ctx.t("alert-ack"));
    }
    // The table is filtered and paged in the database: thousands of rows never leave it at
    // once.
    let query = done.table;
    let csv = query.csv();
    let mut table = Table::new(
        format!("/alerts/{id}"),
        "#delivery",
        query,
        DELIVERY_PAGE,
        ("org", false),
    );
    let mut filter = ciphub_store::DeliveryFilter {
        show: ciphub_store::DeliveryShow::parse(table.query.filter("show")).unwrap_or_default(),
        sector: ciphub_domain::Slug::parse(table.query.filter("sector")).ok(),
        text: table.query.text().map(str::to_owned),
        offset: u32::try_from(table.asked_offset()).unwrap_or(u32::MAX),
        limit: if csv {
            CSV_MAX_ROWS as u32
        } else {
            DELIVERY_PAGE as u32
        },
    };
    if csv {
        filter.offset = 0;
    }
    let page = if alert.sender_org == ctx.org {
        match crate::api::alerts::delivery_page(&state, &user.authed(), id, &filter).await {
            Ok(p) => {
                table.matching = p.matching as usize;
                // A page past the last shows the last.
                if !csv && p.rows.is_empty() && table.offset() != filter.offset as usize {
                    filter.offset = u32::try_from(table.offset()).unwrap_or(u32::MAX);
                    match crate::api::alerts::delivery_page(&state, &user.authed(), id, &filter)
                        .await
                    {
                        Ok(p) => Some(p),
                        Err(e) => return app_error(&ctx, &e),
                    }
                } else {
                    Some(p)
                }
            }
            Err(e) => return app_error(&ctx, &e),
        }
    } else if csv {
        return app_error(
            &ctx,
            &AppError::Forbidden("the delivery table is for the sender's organization".into()),
        );
    } else {
        None
    };
    let mut named = vec![alert.sender_org.clone()];
    if let Some(p) = &page {
        named.extend(p.rows.iter().map(|r| r.record.org.to_string()));
        named.extend(
            p.rows
                .iter()
                .filter_map(|r| r.via.as_ref().map(|v| v.to_string())),
        );
    }
    ctx.name_orgs(&state, named.iter().map(String::as_str))
        .await;
    let summary = page
        .as_ref()
        .map(|p| (p.total as usize, p.read as usize, p.acked as usize));
    let sectors = if page.is_some() {
        match state.store.list_sectors().await {
            Ok(list) => list
                .into_iter()
                .map(|s| {
                    let name = match (&s.sector.name_ja, ctx.lang) {
                        (Some(ja), super::i18n::Lang::Ja) => ja.clone(),
                        _ => s.sector.name_en.clone(),
                    };
                    (s.sector.slug.to_string(), name)
                })
                .collect(),
            Err(e) => return app_error(&ctx, &e.into()),
        }
    } else {
        Vec::new()
    };
    let delivery: Option<Vec<DeliveryJson>> =
        page.map(|p| p.rows.into_iter().map(DeliveryJson::from).collect());
    if csv && let Some(rows) = &delivery {
        let header = [
            "organization_id",
            "organization",
            "via",
            "delivered_at",
            "read_at",
            "read_by",
            "acknowledged_at",
            "acknowledged_by",
            "email",
            "webhooks",
        ]
        .map(String::from)
        .to_vec();
        let out: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.org.clone(),
                    ctx.org(&r.org),
                    r.via.as_deref().map(|v| ctx.org(v)).unwrap_or_default(),
                    r.delivered_at.clone(),
                    r.read_at.clone().unwrap_or_default(),
                    r.read_by.clone().unwrap_or_default(),
                    r.acknowledged_at.clone().unwrap_or_default(),
                    r.acknowledged_by.clone().unwrap_or_default(),
                    r.email.clone().unwrap_or_default(),
                    r.webhooks.clone().unwrap_or_default(),
                ]
            })
            .collect();
        return table::csv(&format!("alert-{id}-delivery"), &header, &out);
    }
    let related = match crate::api::correlations::list_correlations(
        State(state.clone()),
        user.authed(),
        Ok(Query(crate::api::correlations::CorrelationQuery {
            item: Some(format!("alert:{id}")),
            value: None,
            days: None,
            limit: Some(100),
        })),
    )
    .await
    {
        Ok(c) => c.0.clusters,
        Err(e) => return app_error(&ctx, &e),
    };
    render(&AlertPage {
        ctx,
        alert,
        delivery,
        summary,
        table,
        sectors,
        related,
    })
}

pub async fn ack(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted(user, _): Posted,
) -> Response {
    match ack_alert(State(state), user.authed(), ApiPath(id)).await {
        Ok(_) => Redirect::to(&format!("/alerts/{id}")).into_response(),
        Err(e) => app_error(&user.ctx(), &e),
    }
}

/// A CEPTOAR's secretariat passes an alert on to its members.
pub async fn relay(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted(user, form): Posted,
) -> Response {
    let body = RelayAlertJson {
        note: form.get("note"),
    };
    match relay_alert(
        State(state),
        user.authed(),
        ApiPath(id),
        crate::json::ApiJson(body),
    )
    .await
    {
        Ok((_, relayed)) => Redirect::to(&format!("/alerts/{}", relayed.0.id)).into_response(),
        Err(e) => app_error(&user.ctx(), &e),
    }
}

/// The composer's fields, kept when the page is shown again.
#[derive(Default)]
pub struct Draft {
    pub title: String,
    pub body: String,
    pub tlp: String,
    pub kind: String,
    /// The boxes ticked in each kind's picker (ids); pasted ids join the chosen kind's.
    pub sectors: Vec<String>,
    pub ceptoars: Vec<String>,
    pub orgs: Vec<String>,
    /// The organization search as typed.
    pub org_q: String,
    pub roles: Vec<String>,
    pub ack_within: String,
    pub exercise: bool,
    pub clients_permitted: bool,
    /// Related reports and incidents as typed ("12, 15").
    pub reports: String,
    pub incidents: String,
}

/// An alert to more organizations than this asks the sender to confirm first.
const CONFIRM_ABOVE: usize = 100;

/// The most organizations an audience search shows.
const FOUND_AT_MOST: u32 = 30;

/// Ids as a list, in order, each once.
fn merged(lists: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in lists {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

impl Draft {
    fn from_form(f: &FormData) -> Self {
        let kind = f.get("kind");
        // Ids pasted (from the registry's CSV, say), separated by commas, spaces or lines.
        let pasted: Vec<String> = f
            .get("values")
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect();
        let pick = |field: &str, of_kind: &str| {
            let extra = if kind == of_kind {
                pasted.clone()
            } else {
                Vec::new()
            };
            merged(f.all(field).into_iter().chain(extra))
        };
        Self {
            title: f.get("title"),
            body: f.get("body"),
            tlp: f.get("tlp"),
            sectors: pick("sector", "sectors"),
            ceptoars: pick("ceptoar", "ceptoars"),
            orgs: pick("org", "organizations"),
            org_q: f.get("org_q"),
            kind,
            roles: f.all("roles"),
            ack_within: f.get("ack_within"),
            exercise: f.has("exercise"),
            clients_permitted: f.has("clients_permitted"),
            reports: f.get("reports"),
            incidents: f.get("incidents"),
        }
    }

    /// The ids chosen for the draft's kind.
    fn values(&self) -> &[String] {
        match self.kind.as_str() {
            "sectors" => &self.sectors,
            "ceptoars" => &self.ceptoars,
            "organizations" => &self.orgs,
            _ => &[],
        }
    }

    fn audience(&self) -> AudienceJson {
        AudienceJson {
            kind: self.kind.clone(),
            values: self.values().to_vec(),
            roles: self.roles.clone(),
        }
    }
}

/// The composer's pickers: sectors and CEPTOARs listed whole, organizations chosen or found by
/// `draft.org_q` when `find` is set; and the roles. Names in the page's language.
async fn audience_pickers(
    state: &AppState,
    ctx: &mut Ctx,
    draft: &Draft,
    find: bool,
) -> Vec<Picker> {
    let lang = ctx.lang.tag();
    let sectors: Vec<(String, String)> = state
        .store
        .list_sectors()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            let name = match (lang, s.sector.name_ja) {
                ("ja", Some(ja)) => ja,
                _ => s.sector.name_en,
            };
            (s.sector.slug.to_string(), name)
        })
        .collect();
    let sector_name = |id: &str| {
        sectors
            .iter()
            .find(|(s, _)| s == id)
            .map_or_else(|| id.to_owned(), |(_, n)| n.clone())
    };
    let order = super::picker::name_order(lang);
    let ceptoars = super::picker::ceptoars(state, lang).await;
    let with_sectors = |o: &ciphub_domain::registry::Organization| PickOption {
        value: o.slug.to_string(),
        label: o.name_for(lang).to_owned(),
        hint: o
            .sectors
            .iter()
            .map(|s| sector_name(s.as_str()))
            .collect::<Vec<_>>()
            .join(", "),
        checked: false,
    };
    let mut ceptoar_picker = Picker::short(
        "pick-ceptoar",
        "ceptoar",
        ctx.t("audience-ceptoars"),
        [],
        &[],
    )
    .for_kind("ceptoars");
    ceptoar_picker.options = ceptoars
        .iter()
        .map(|r| PickOption {
            checked: draft.ceptoars.contains(&r.org.slug.to_string()),
            ..with_sectors(&r.org)
        })
        .collect();
    // Organizations: those chosen first (by name), then what the search found.
    ctx.name_orgs(state, draft.orgs.iter().map(String::as_str))
        .await;
    let mut orgs: Vec<PickOption> = draft
        .orgs
        .iter()
        .map(|id| PickOption {
            value: id.clone(),
            label: ctx.org(id),
            hint: String::new(),
            checked: true,
        })
        .collect();
    let mut nothing_found = None;
    if find && !draft.org_q.is_empty() {
        let found = state
            .store
            .organizations_page(
                &OrgFilter::default(),
                Some(&draft.org_q),
                (order, false),
                0,
                FOUND_AT_MOST,
            )
            .await;
        match found {
            Ok((rows, total)) => {
                if total == 0 {
                    nothing_found = Some(ctx.t1("picker-none-found", "text", &draft.org_q));
                } else if total > u64::from(FOUND_AT_MOST) {
                    nothing_found = Some(crate::web::i18n::t_args(
                        ctx.lang,
                        "picker-more-found",
                        &[
                            ("count", total.to_string()),
                            ("shown", FOUND_AT_MOST.to_string()),
                        ],
                    ));
                }
                orgs.extend(
                    rows.iter()
                        .filter(|r| !draft.orgs.contains(&r.org.slug.to_string()))
                        .map(|r| with_sectors(&r.org)),
                );
            }
            Err(e) => nothing_found = Some(ctx.describe(&e.into())),
        }
    }
    let mut org_picker = Picker::short("pick-org", "org", ctx.t("audience-organizations"), [], &[])
        .for_kind("organizations");
    org_picker.options = orgs;
    org_picker.nothing_found = nothing_found;
    org_picker.search = Some(Search {
        field: "org_q".into(),
        text: draft.org_q.clone(),
        action: "find".into(),
    });
    let sector_picker = Picker::short(
        "pick-sector",
        "sector",
        ctx.t("audience-sectors"),
        sectors,
        &draft.sectors,
    )
    .for_kind("sectors");
    let roles = Picker::short(
        "pick-role",
        "roles",
        ctx.t("compose-roles"),
        super::role_names()
            .into_iter()
            .map(|r| (r.to_owned(), ctx.term("role", r))),
        &draft.roles,
    );
    vec![sector_picker, ceptoar_picker, org_picker, roles]
}

#[derive(Template)]
#[template(path = "web/compose.html")]
struct ComposePage {
    ctx: Ctx,
    draft: Draft,
    labels: Vec<&'static str>,
    pickers: Vec<Picker>,
    /// The preview: how many organizations, and the first of them.
    reach: Option<(usize, Vec<String>)>,
    /// The body as it will read (Markdown rendered), shown with the preview.
    body_html: Option<String>,
    /// The send waits for the sender to confirm this many recipients.
    confirm: Option<usize>,
}

impl ComposePage {
    fn tlp_help(&self, label: &&str) -> String {
        let key = format!(
            "tlp-help-{}",
            label.trim_start_matches("TLP:").replace('+', "-")
        );
        self.ctx.t(&key)
    }
}

pub async fn composer(State(state): State<AppState>, user: WebUser) -> Response {
    let mut ctx = user.ctx();
    // Not offered to whoever may not send: the page says so instead of a form that fails.
    if !ctx.can_send {
        let message = ctx.t("compose-not-allowed");
        return super::error_page(&ctx, axum::http::StatusCode::FORBIDDEN, message);
    }
    let draft = Draft {
        tlp: "TLP:GREEN".into(),
        kind: "sectors".into(),
        ack_within: "4h".into(),
        ..Draft::default()
    };
    let pickers = audience_pickers(&state, &mut ctx, &draft, false).await;
    render(&ComposePage {
        ctx,
        draft,
        labels: super::tlp_labels(),
        pickers,
        reach: None,
        body_html: None,
        confirm: None,
    })
}

/// The composer's buttons: find organizations, preview who the alert reaches and how it
/// reads, or send it. Every field is kept whatever the answer.
pub async fn send(State(state): State<AppState>, Posted(user, form): Posted) -> Response {
    let mut draft = Draft::from_form(&form);
    let mut ctx = user.ctx();
    let action = form.get("action");
    if action == "find" {
        draft.kind = "organizations".into();
    }
    let find = action == "find";
    let pickers = audience_pickers(&state, &mut ctx, &draft, find).await;
    let page = |ctx: Ctx, draft: Draft, reach: Option<(usize, Vec<String>)>, confirm| {
        let body_html = reach.as_ref().map(|_| crate::markdown::render(&draft.body));
        render(&ComposePage {
            ctx,
            draft,
            labels: super::tlp_labels(),
            pickers,
            reach,
            body_html,
            confirm,
        })
    };
    if find {
        return page(ctx, draft, None, None);
    }
    if action == "preview" {
        return match preview(&state, &user, &draft).await {
            Ok(reach) => {
                ctx.name_orgs(&state, reach.1.iter().map(String::as_str))
                    .await;
                page(ctx, draft, Some(reach), None)
            }
            Err(e) => {
                ctx.error = Some(ctx.describe(&e));
                page(ctx, draft, None, None)
            }
        };
    }
    let (reports, incidents) = match (parse_ids(&draft.reports), parse_ids(&draft.incidents)) {
        (Ok(r), Ok(i)) => (r, i),
        (Err(bad), _) => {
            ctx.error = Some(ctx.t1("compose-bad-number", "value", bad));
            return page(ctx, draft, None, None);
        }
        (_, Err(bad)) => {
            ctx.error = Some(ctx.t1("compose-bad-number", "value", bad));
            return page(ctx, draft, None, None);
        }
    };
    // Many recipients: the sender sees how many and confirms before anything is sent.
    if !form.has("confirm_many")
        && let Ok(reach) = preview(&state, &user, &draft).await
        && reach.0 > CONFIRM_ABOVE
    {
        let count = reach.0;
        ctx.name_orgs(&state, reach.1.iter().map(String::as_str))
            .await;
        ctx.error = Some(ctx.t1("compose-confirm-many", "count", count));
        return page(ctx, draft, Some(reach), Some(count));
    }
    let body = NewAlertJson {
        title: draft.title.clone(),
        body: draft.body.clone(),
        tlp: draft.tlp.clone(),
        audience: draft.audience(),
        clients_permitted: draft.clients_permitted,
        acknowledge_within: (!draft.ack_within.is_empty()).then(|| draft.ack_within.clone()),
        exercise: draft.exercise,
        reports,
        incidents,
        attachments: form
            .files()
            .iter()
            .map(|f| crate::api::alerts::NewAttachmentJson {
                name: f.name.clone(),
                media_type: f.media_type.clone(),
                content_base64: base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    &f.content,
                ),
            })
            .collect(),
    };
    match create_alert(State(state), user.authed(), crate::json::ApiJson(body)).await {
        Ok((_, sent)) => Redirect::to(&format!("/alerts/{}", sent.0.id)).into_response(),
        Err(e) => {
            ctx.error = Some(ctx.describe(&e));
            page(ctx, draft, None, None)
        }
    }
}

/// Numbers typed as "12, 15" (or "#12"); an entry that is not one is given back.
fn parse_ids(text: &str) -> Result<Vec<i64>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.trim_start_matches('#')
                .parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| t.to_owned())
        })
        .collect()
}

/// Who the draft reaches: the same resolution the send uses.
async fn preview(
    state: &AppState,
    user: &WebUser,
    draft: &Draft,
) -> Result<(usize, Vec<String>), AppError> {
    let tlp: ciphub_domain::report::Tlp = draft
        .tlp
        .parse()
        .map_err(|e: String| AppError::invalid("tlp", e))?;
    let audience = crate::api::alerts::audience_of(&draft.audience())?;
    let (sectors, orgs) = state.store.community().await?;
    let reach = resolve_audience(
        &audience,
        tlp,
        &user.user.org,
        Community {
            sectors: &sectors,
            orgs: &orgs,
        },
    )
    .map_err(|e| AppError::invalid("audience", e.to_string()))?;
    Ok((
        reach.len(),
        reach.iter().take(30).map(ToString::to_string).collect(),
    ))
}
