//! The registry browser, the audit view, and the administration of users and tokens: pages
//! over the API handlers of the same names, so each shows what the API lets the user see.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::table::{self, CSV_MAX_ROWS, Table, TableQuery};
use super::{Ctx, Posted, WebUser, app_error, render};
use crate::AppState;
use crate::api::audit::{AuditEntryJson, AuditQuery, list_audit};
use crate::api::organizations::{OrgDetailJson, OrgJson, get_organization};
use crate::api::sectors::{SectorJson, list_sectors};
use crate::api::tokens::{
    NewTokenJson, TokenJson, TokenQuery, create_token, list_tokens, revoke_token,
};
use crate::api::users::{
    NewUserJson, UserJson, UserPatchJson, UserQuery, create_user, list_users, update_user,
};
use crate::path::ApiPath;
use ciphub_domain::policy::{self, Action};
use ciphub_domain::registry::OrgKind;
use ciphub_store::{OrgFilter, OrgOrder};

#[derive(Template)]
#[template(path = "web/registry.html")]
struct RegistryPage {
    ctx: Ctx,
    sectors: Vec<SectorJson>,
    orgs: Vec<OrgJson>,
    kind: String,
    sector: String,
    table: Table,
}

impl RegistryPage {
    /// A sector's name in the page's language.
    fn sector_name(&self, slug: &str) -> String {
        self.sectors
            .iter()
            .find(|s| s.slug == slug)
            .map_or_else(|| slug.to_owned(), |s| sector_label(&self.ctx, s))
    }
}

fn sector_label(ctx: &Ctx, s: &SectorJson) -> String {
    match (&s.name_ja, ctx.lang) {
        (Some(j), super::i18n::Lang::Ja) => j.clone(),
        _ => s.name_en.clone(),
    }
}

/// Organizations per page of the registry.
const ORGS_PER_PAGE: usize = 100;

pub async fn registry(
    State(state): State<AppState>,
    user: WebUser,
    Query(query): Query<TableQuery>,
) -> Response {
    let ctx = user.ctx();
    if let Err(e) = policy::check(&user.authed().actor(), Action::ReadRegistry) {
        return app_error(&ctx, &e.into());
    }
    let sectors = match list_sectors(State(state.clone()), user.authed()).await {
        Ok(s) => s.0,
        Err(e) => return app_error(&ctx, &e),
    };
    let kind = match query.filter("kind") {
        "" => "ceptoar".to_owned(),
        k => k.to_owned(),
    };
    let sector = query.filter("sector").to_owned();
    let filter = OrgFilter {
        kind: kind.parse::<OrgKind>().ok(),
        sector: sectors
            .iter()
            .find(|s| s.slug == sector)
            .and_then(|s| ciphub_domain::Slug::parse(&s.slug).ok()),
    };
    let sort = query.sort(&["name", "id"], false);
    let order = match (sort.0, ctx.lang) {
        ("id", _) => OrgOrder::Id,
        (_, super::i18n::Lang::Ja) => OrgOrder::NameJa,
        _ => OrgOrder::NameEn,
    };
    let csv = query.csv();
    let mut table = Table::new("/registry", "#orgs", query, ORGS_PER_PAGE, sort);
    // A first read counts the rows, so a page past the last shows the last.
    let (offset, limit) = if csv {
        (0, CSV_MAX_ROWS)
    } else {
        (table.asked_offset(), ORGS_PER_PAGE)
    };
    let text = table.query.text().map(str::to_owned);
    let read = |offset: usize| {
        let (state, filter, text) = (state.clone(), filter.clone(), text.clone());
        async move {
            state
                .store
                .organizations_page(
                    &filter,
                    text.as_deref(),
                    (order, sort.1),
                    u32::try_from(offset).unwrap_or(u32::MAX),
                    u32::try_from(limit).unwrap_or(u32::MAX),
                )
                .await
        }
    };
    let (mut orgs, total) = match read(offset).await {
        Ok(r) => r,
        Err(e) => return app_error(&ctx, &e.into()),
    };
    table.matching = usize::try_from(total).unwrap_or(usize::MAX);
    if !csv && orgs.is_empty() && table.offset() != offset {
        match read(table.offset()).await {
            Ok(r) => orgs = r.0,
            Err(e) => return app_error(&ctx, &e.into()),
        }
    }
    let orgs: Vec<OrgJson> = orgs.iter().map(OrgJson::from).collect();
    let page = RegistryPage {
        ctx,
        sectors,
        orgs,
        kind,
        sector,
        table,
    };
    if csv {
        let header = ["id", "name", "name_ja", "kind", "sectors", "member_of"]
            .map(String::from)
            .to_vec();
        let rows: Vec<Vec<String>> = page
            .orgs
            .iter()
            .map(|o| {
                vec![
                    o.slug.clone(),
                    o.name_en.clone(),
                    o.name_ja.clone().unwrap_or_default(),
                    o.kind.clone(),
                    o.sectors
                        .iter()
                        .map(|s| page.sector_name(s))
                        .collect::<Vec<_>>()
                        .join("; "),
                    o.member_of.join("; "),
                ]
            })
            .collect();
        return table::csv("organizations", &header, &rows);
    }
    render(&page)
}

#[derive(Template)]
#[template(path = "web/organization.html")]
struct OrgPage {
    ctx: Ctx,
    detail: OrgDetailJson,
}

pub async fn organization(
    State(state): State<AppState>,
    user: WebUser,
    Path(slug): Path<String>,
) -> Response {
    let mut ctx = user.ctx();
    match get_organization(State(state.clone()), user.authed(), ApiPath(slug)).await {
        Ok(d) => {
            // Sectors and parent organizations by name.
            ctx.name_sectors(&state).await;
            let parents = d.0.organization.member_of.iter().map(String::as_str);
            ctx.name_orgs(&state, parents).await;
            render(&OrgPage { ctx, detail: d.0 })
        }
        Err(e) => app_error(&ctx, &e),
    }
}

#[derive(Template)]
#[template(path = "web/audit.html")]
struct AuditPage {
    ctx: Ctx,
    entries: Vec<AuditEntryJson>,
    /// The filters, and the `before` of the next (older) page.
    filter: AuditFilter,
    next: Option<i64>,
}

impl AuditPage {
    /// The URL of the older entries, same filters.
    fn older_url(&self, before: &i64) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if !self.filter.action.is_empty() {
            q.append_pair("action", &self.filter.action);
        }
        if !self.filter.actor.is_empty() {
            q.append_pair("actor", &self.filter.actor);
        }
        q.append_pair("before", &before.to_string());
        format!("/audit?{}", q.finish())
    }
}

/// The audit view's filters and place, newest first.
#[derive(Clone, Default, Deserialize)]
pub struct AuditFilter {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    /// Text, so a bad value is ignored rather than refused.
    #[serde(default)]
    before: String,
}

/// The actions the audit view offers to filter by (prefixes of the recorded actions).
const AUDIT_ACTIONS: [&str; 8] = [
    "report.",
    "alert.",
    "incident.",
    "user.",
    "token.",
    "organization.",
    "session.",
    "federation.",
];

pub async fn audit(
    State(state): State<AppState>,
    user: WebUser,
    Query(filter): Query<AuditFilter>,
) -> Response {
    let mut ctx = user.ctx();
    let some = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let q = AuditQuery {
        after: None,
        order: Some("newest".into()),
        before: filter.before.trim().parse().ok(),
        action: some(&filter.action),
        actor: some(&filter.actor),
        limit: Some(100),
    };
    match list_audit(State(state.clone()), user.authed(), Ok(Query(q))).await {
        Ok(p) => {
            let orgs = p.0.entries.iter().filter_map(|e| e.actor_org.as_deref());
            let objects =
                p.0.entries
                    .iter()
                    .filter(|e| e.object_type == "organization")
                    .map(|e| e.object_id.as_str());
            ctx.name_orgs(&state, orgs.chain(objects)).await;
            render(&AuditPage {
                ctx,
                entries: p.0.entries,
                filter,
                next: p.0.next_before,
            })
        }
        Err(e) => app_error(&ctx, &e),
    }
}

#[derive(Template)]
#[template(path = "web/users.html")]
struct UsersPage {
    ctx: Ctx,
    users: Vec<UserJson>,
    tokens: Vec<TokenJson>,
    /// A new token, shown this once.
    token: Option<String>,
}

impl UsersPage {
    /// The roles of a user, as ticked boxes with the roles' names.
    fn roles_picker(&self, u: &UserJson) -> String {
        roles_picker(&self.ctx, &format!("roles-{}", u.name), &u.roles)
    }

    /// The roles of a new user.
    fn new_roles(&self) -> String {
        roles_picker(&self.ctx, "roles-new", &[])
    }

    /// The roles' names, for the folded editor's summary.
    fn role_list(&self, u: &UserJson) -> String {
        if u.roles.is_empty() {
            return self.ctx.t("admin-no-roles");
        }
        u.roles
            .iter()
            .map(|r| self.ctx.term("role", r))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn roles_picker(ctx: &Ctx, id: &str, chosen: &[String]) -> String {
    super::picker::Picker::short(
        id,
        "roles",
        ctx.t("admin-roles"),
        super::role_names()
            .into_iter()
            .map(|r| (r.to_owned(), ctx.term("role", r))),
        chosen,
    )
    .html(ctx)
}

async fn users_page(
    state: &AppState,
    user: &WebUser,
    mut ctx: Ctx,
    token: Option<String>,
) -> Response {
    // Everyone manages their own tokens; the user list is for admins (the API says who).
    let users = list_users(
        State(state.clone()),
        user.authed(),
        Ok(Query(UserQuery { org: None })),
    )
    .await
    .map(|u| u.0)
    .unwrap_or_default();
    let tokens = match list_tokens(
        State(state.clone()),
        user.authed(),
        Ok(Query(TokenQuery { user: None })),
    )
    .await
    {
        Ok(t) => t.0,
        Err(e) => return app_error(&ctx, &e),
    };
    if token.is_some() {
        ctx.flash = Some(ctx.t("admin-token-once"));
    }
    render(&UsersPage {
        ctx,
        users,
        tokens,
        token,
    })
}

pub async fn users(State(state): State<AppState>, user: WebUser) -> Response {
    let ctx = user.ctx();
    users_page(&state, &user, ctx, None).await
}

pub async fn add_user(State(state): State<AppState>, Posted(user, form): Posted) -> Response {
    let mut ctx = user.ctx();
    let password = form
        .0
        .iter()
        .find(|(k, _)| k == "password")
        .map(|(_, v)| v.clone())
        .filter(|p| !p.is_empty());
    let body = NewUserJson {
        name: form.get("name"),
        org: user.user.org.to_string(),
        display_name: Some(form.get("display_name")).filter(|d| !d.is_empty()),
        roles: form.all("roles"),
        password,
    };
    match create_user(
        State(state.clone()),
        user.authed(),
        crate::json::ApiJson(body),
    )
    .await
    {
        Ok(_) => Redirect::to("/admin/users").into_response(),
        Err(e) => {
            ctx.error = Some(ctx.describe(&e));
            users_page(&state, &user, ctx, None).await
        }
    }
}

pub async fn toggle_user(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Posted(user, form): Posted,
) -> Response {
    // One form sets the roles (its marker sent even with no box ticked), another switches the
    // account on or off. Roles may also come as one "a, b" text.
    let roles = (form.has("set_roles") || form.has("roles")).then(|| {
        form.all("roles")
            .iter()
            .flat_map(|r| r.split(','))
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect()
    });
    let disabled = form.has("disabled").then(|| form.get("disabled") == "true");
    let body = UserPatchJson {
        display_name: None,
        roles,
        disabled,
        password: None,
    };
    match update_user(
        State(state.clone()),
        user.authed(),
        ApiPath(name),
        crate::json::ApiJson(body),
    )
    .await
    {
        Ok(_) => Redirect::to("/admin/users").into_response(),
        // Refused: said on the users page, beside the list, not on a page of its own.
        Err(e) => {
            let mut ctx = user.ctx();
            ctx.error = Some(ctx.describe(&e));
            users_page(&state, &user, ctx, None).await
        }
    }
}

pub async fn add_token(State(state): State<AppState>, Posted(user, form): Posted) -> Response {
    let mut ctx = user.ctx();
    let body = NewTokenJson {
        user: None,
        label: Some(form.get("label")).filter(|l| !l.is_empty()),
        expires_in: Some(form.get("expires_in")).filter(|l| !l.is_empty()),
    };
    match create_token(
        State(state.clone()),
        user.authed(),
        crate::json::ApiJson(body),
    )
    .await
    {
        Ok((_, issued)) => users_page(&state, &user, ctx, Some(issued.0.token.clone())).await,
        Err(e) => {
            ctx.error = Some(ctx.describe(&e));
            users_page(&state, &user, ctx, None).await
        }
    }
}

pub async fn remove_token(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted(user, _): Posted,
) -> Response {
    match revoke_token(State(state), user.authed(), ApiPath(id)).await {
        Ok(_) => Redirect::to("/admin/users").into_response(),
        Err(e) => app_error(&user.ctx(), &e),
    }
}
