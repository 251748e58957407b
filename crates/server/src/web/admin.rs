//! The registry browser, the audit view, and the administration of users and tokens: pages
//! over the API handlers of the same names, so each shows what the API lets the user see.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Ctx, Posted, WebUser, app_error, render};
use crate::AppState;
use crate::api::audit::{AuditEntryJson, AuditQuery, list_audit};
use crate::api::organizations::{OrgDetailJson, OrgJson, OrgQuery, get_organization};
use crate::api::sectors::{SectorJson, list_sectors};
use crate::api::tokens::{
    NewTokenJson, TokenJson, TokenQuery, create_token, list_tokens, revoke_token,
};
use crate::api::users::{
    NewUserJson, UserJson, UserPatchJson, UserQuery, create_user, list_users, update_user,
};
use crate::path::ApiPath;

#[derive(Template)]
#[template(path = "web/registry.html")]
struct RegistryPage {
    ctx: Ctx,
    sectors: Vec<SectorJson>,
    orgs: Vec<OrgJson>,
    kind: String,
    sector: String,
    /// The page of organizations shown (from 0), and whether more follow.
    page: usize,
    more: bool,
    total: usize,
}

/// Organizations per page of the registry.
const ORGS_PER_PAGE: usize = 200;

/// Filters of the organization list.
#[derive(Deserialize)]
pub struct RegistryFilter {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    sector: Option<String>,
    #[serde(default)]
    page: Option<usize>,
}

pub async fn registry(
    State(state): State<AppState>,
    user: WebUser,
    Query(f): Query<RegistryFilter>,
) -> Response {
    let ctx = user.ctx();
    let sectors = match list_sectors(State(state.clone()), user.authed()).await {
        Ok(s) => s.0,
        Err(e) => return app_error(&ctx, &e),
    };
    let kind = f
        .kind
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| "ceptoar".into());
    let sector = f.sector.filter(|s| !s.is_empty());
    let q = OrgQuery {
        kind: Some(kind.clone()),
        sector: sector.clone(),
    };
    let orgs = match crate::api::organizations::list_organizations(
        State(state),
        user.authed(),
        Ok(Query(q)),
    )
    .await
    {
        Ok(o) => o.0,
        Err(e) => return app_error(&ctx, &e),
    };
    let total = orgs.len();
    let page = f.page.unwrap_or(0);
    let orgs: Vec<OrgJson> = orgs
        .into_iter()
        .skip(page.saturating_mul(ORGS_PER_PAGE))
        .take(ORGS_PER_PAGE)
        .collect();
    let more = (page + 1).saturating_mul(ORGS_PER_PAGE) < total;
    render(&RegistryPage {
        ctx,
        sectors,
        orgs,
        kind,
        sector: sector.unwrap_or_default(),
        page,
        more,
        total,
    })
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
    next: Option<i64>,
}

/// Paging of the audit view.
#[derive(Deserialize)]
pub struct After {
    #[serde(default)]
    after: Option<i64>,
}

pub async fn audit(
    State(state): State<AppState>,
    user: WebUser,
    Query(a): Query<After>,
) -> Response {
    let ctx = user.ctx();
    let q = AuditQuery {
        after: a.after,
        limit: Some(100),
    };
    match list_audit(State(state), user.authed(), Ok(Query(q))).await {
        Ok(p) => render(&AuditPage {
            ctx,
            entries: p.0.entries,
            next: p.0.next_after,
        }),
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
    // One form sets the roles, another switches the account on or off.
    let roles = form.has("roles").then(|| {
        form.get("roles")
            .split(',')
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
        State(state),
        user.authed(),
        ApiPath(name),
        crate::json::ApiJson(body),
    )
    .await
    {
        Ok(_) => Redirect::to("/admin/users").into_response(),
        Err(e) => app_error(&user.ctx(), &e),
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
