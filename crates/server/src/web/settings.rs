//! The organization's settings: a CEPTOAR's relay rule, e-mail contacts, and webhooks with
//! their failed calls. Each part shows only to those the API lets change it.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use ciphub_domain::policy::{self, Action};

use super::{Ctx, Posted, WebUser, app_error, render};
use crate::AppState;
use crate::api::alerts::{RelayRuleJson, put_relay_rule};
use crate::api::channels::{
    CallJson, ContactJson, NewWebhookJson, WebhookJson, create_webhook, delete_webhook,
    get_contacts, list_calls, list_webhooks, put_contacts, retry_call,
};
use crate::error::AppError;
use crate::path::ApiPath;

#[derive(Template)]
#[template(path = "web/settings.html")]
struct SettingsPage {
    ctx: Ctx,
    /// The user's own time zone, if chosen, and the instance's.
    time_zone: Option<String>,
    default_zone: &'static str,
    zones: Vec<&'static str>,
    /// A CEPTOAR's relay rule, for its secretariat and admins.
    relay: Option<(bool, String)>,
    /// Contacts as editable rows (rank, name, address), for the organization's admins.
    contacts: Option<Vec<[String; 3]>>,
    /// Identifiers (kind, value) as editable rows, for the organization's admins.
    identifiers: Option<Vec<[String; 2]>>,
    identifier_kinds: Vec<&'static str>,
    webhooks: Option<Vec<WebhookJson>>,
    /// A new webhook's secret, shown this once.
    secret: Option<String>,
}

impl SettingsPage {
    /// Whether a row's stored value is the option `value` (for `selected`).
    fn same(&self, stored: &str, value: &str) -> bool {
        stored == value
    }
}

/// Blank rows the contact and identifier tables offer for new entries.
const BLANK_ROWS: usize = 3;

/// Rows as a refused form sent them, shown again instead of what is stored.
#[derive(Default)]
struct Kept {
    contacts: Option<Vec<[String; 3]>>,
    identifiers: Option<Vec<[String; 2]>>,
}

/// `rows` and blank ones after them.
fn with_blanks<const N: usize>(mut rows: Vec<[String; N]>) -> Vec<[String; N]> {
    rows.extend(std::iter::repeat_with(|| std::array::from_fn(|_| String::new())).take(BLANK_ROWS));
    rows
}

/// The rows a table form sent: its columns' values by position, each with its number from 1
/// as the page showed it. (Selects always send a value: the caller drops the rows whose typed
/// fields are empty.)
fn rows_of<const N: usize>(
    form: &super::FormData,
    columns: [&str; N],
) -> Vec<(usize, [String; N])> {
    let values: Vec<Vec<String>> = columns.iter().map(|c| form.every(c)).collect();
    let n = values.iter().map(Vec::len).max().unwrap_or(0);
    (0..n)
        .map(|i| {
            (
                i + 1,
                std::array::from_fn(|c| values[c].get(i).cloned().unwrap_or_default()),
            )
        })
        .collect()
}

async fn page(state: &AppState, user: &WebUser, ctx: Ctx, secret: Option<String>) -> Response {
    page_with(state, user, ctx, secret, Kept::default()).await
}

async fn page_with(
    state: &AppState,
    user: &WebUser,
    mut ctx: Ctx,
    secret: Option<String>,
    kept: Kept,
) -> Response {
    let actor = user.user.actor();
    let relay = if policy::check(&actor, Action::SetRelayRule).is_ok() {
        match state.store.relay_rule(&actor.org).await {
            Ok(r) => Some(r.unwrap_or((false, String::new()))),
            Err(e) => return app_error(&ctx, &e.into()),
        }
    } else {
        None
    };
    let admin = policy::check(&actor, Action::ManageChannels { org: &actor.org }).is_ok();
    let identifiers = if !admin {
        None
    } else if let Some(rows) = kept.identifiers {
        Some(with_blanks(rows))
    } else {
        match crate::api::identifiers::list_identifiers(
            State(state.clone()),
            user.authed(),
            ApiPath(actor.org.to_string()),
        )
        .await
        {
            Ok(i) => Some(with_blanks(
                i.0.iter()
                    .map(|i| [i.kind.clone(), i.value.clone()])
                    .collect(),
            )),
            Err(e) => return app_error(&ctx, &e),
        }
    };
    let (contacts, webhooks) = if admin {
        let slug = actor.org.to_string();
        let contacts = match kept.contacts {
            Some(rows) => with_blanks(rows),
            None => match get_contacts(State(state.clone()), user.authed(), ApiPath(slug)).await {
                Ok(c) => with_blanks(
                    c.0.iter()
                        .map(|c| [c.rank.to_string(), c.name.clone(), c.email.clone()])
                        .collect(),
                ),
                Err(e) => return app_error(&ctx, &e),
            },
        };
        let hooks = match list_webhooks(State(state.clone()), user.authed()).await {
            Ok(w) => w.0,
            Err(e) => return app_error(&ctx, &e),
        };
        (Some(contacts), Some(hooks))
    } else {
        (None, None)
    };
    if secret.is_some() {
        ctx.flash = Some(ctx.t("settings-secret-once"));
    }
    let time_zone = match state.store.user_preferences(user.user.id).await {
        Ok((_, zone)) => zone,
        Err(e) => return app_error(&ctx, &e.into()),
    };
    render(&SettingsPage {
        ctx,
        time_zone,
        default_zone: state.config.time_zone.name(),
        zones: super::time::zone_names().collect(),
        relay,
        contacts,
        identifiers,
        identifier_kinds: ciphub_domain::anonymize::IdentifierKind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect(),
        webhooks,
        secret,
    })
}

pub async fn show(State(state): State<AppState>, user: WebUser) -> Response {
    let ctx = user.ctx();
    page(&state, &user, ctx, None).await
}

fn done(ctx: &Ctx, result: Result<(), AppError>) -> Response {
    match result {
        Ok(()) => Redirect::to("/settings").into_response(),
        Err(e) => app_error(ctx, &e),
    }
}

/// The user's own password: the current one, and the new one twice. A change ends every
/// session of the user, so the next page is the login.
pub async fn password(State(state): State<AppState>, Posted(user, form): Posted) -> Response {
    let mut ctx = user.ctx();
    let new = form.get_raw("new_password");
    if new != form.get_raw("confirm_password") {
        ctx.error = Some(ctx.t("settings-password-mismatch"));
        return page(&state, &user, ctx, None).await;
    }
    let body = crate::api::me::PasswordChangeJson {
        current_password: form.get_raw("current_password"),
        new_password: new,
    };
    match crate::api::me::put_my_password(
        State(state.clone()),
        user.authed(),
        crate::json::ApiJson(body),
    )
    .await
    {
        Ok(_) => Redirect::to("/login").into_response(),
        Err(e) => {
            ctx.error = Some(match &e {
                AppError::BadRequest { field: Some(f), .. } if f == "current_password" => {
                    ctx.t("settings-password-wrong")
                }
                AppError::BadRequest { field: Some(f), .. } if f == "new_password" => ctx.t1(
                    "settings-password-weak",
                    "min",
                    ciphub_domain::identity::Password::MIN_CHARS,
                ),
                _ => ctx.describe(&e),
            });
            page(&state, &user, ctx, None).await
        }
    }
}

/// The user's own time zone (empty: the instance's).
pub async fn time_zone(State(state): State<AppState>, Posted(user, form): Posted) -> Response {
    let name = form.get("time_zone");
    let name = name.trim();
    let zone = if name.is_empty() {
        None
    } else {
        match super::time::parse_zone(name) {
            Ok(z) => Some(z),
            Err(e) => {
                let mut ctx = user.ctx();
                ctx.error = Some(format!("{}: {e}", ctx.t("settings-time-zone")));
                return page(&state, &user, ctx, None).await;
            }
        }
    };
    match state
        .store
        .set_user_time_zone(&user.user, zone.map(|z| z.name()))
        .await
    {
        Ok(()) => Redirect::to("/settings").into_response(),
        Err(e) => app_error(&user.ctx(), &e.into()),
    }
}

pub async fn relay_rule(State(state): State<AppState>, Posted(user, form): Posted) -> Response {
    let body = RelayRuleJson {
        enabled: form.has("enabled"),
        note: form.get("note"),
    };
    let result = put_relay_rule(State(state), user.authed(), crate::json::ApiJson(body))
        .await
        .map(|_| ());
    done(&user.ctx(), result)
}

/// Contacts as rows of rank, name and address; a refused row is named and every row kept.
pub async fn contacts(State(state): State<AppState>, Posted(user, form): Posted) -> Response {
    let mut ctx = user.ctx();
    // A row with no name and no address is an empty one (or one emptied to remove it).
    let rows: Vec<(usize, [String; 3])> = rows_of(&form, ["rank", "name", "email"])
        .into_iter()
        .filter(|(_, [_, name, email])| !name.is_empty() || !email.is_empty())
        .collect();
    let kept = || Kept {
        contacts: Some(rows.iter().map(|(_, r)| r.clone()).collect()),
        identifiers: None,
    };
    let mut list = Vec::new();
    for (n, [rank, name, email]) in &rows {
        let Ok(rank) = rank.parse() else {
            ctx.error = Some(ctx.t1("settings-contact-row", "row", n));
            return page_with(&state, &user, ctx, None, kept()).await;
        };
        list.push(ContactJson {
            rank,
            name: name.clone(),
            email: email.clone(),
        });
    }
    let slug = user.user.org.to_string();
    match put_contacts(
        State(state.clone()),
        user.authed(),
        ApiPath(slug),
        crate::json::ApiJson(list),
    )
    .await
    {
        Ok(_) => Redirect::to("/settings").into_response(),
        Err(e) => {
            ctx.error = Some(ctx.describe(&e));
            page_with(&state, &user, ctx, None, kept()).await
        }
    }
}

pub async fn add_webhook(State(state): State<AppState>, Posted(user, form): Posted) -> Response {
    let mut ctx = user.ctx();
    let body = NewWebhookJson {
        url: form.get("url"),
    };
    match create_webhook(
        State(state.clone()),
        user.authed(),
        crate::json::ApiJson(body),
    )
    .await
    {
        Ok((_, hook)) => page(&state, &user, ctx, hook.0.secret).await,
        Err(e) => {
            ctx.error = Some(ctx.describe(&e));
            page(&state, &user, ctx, None).await
        }
    }
}

pub async fn remove_webhook(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted(user, _): Posted,
) -> Response {
    let result = delete_webhook(State(state), user.authed(), ApiPath(id))
        .await
        .map(|_| ());
    done(&user.ctx(), result)
}

#[derive(Template)]
#[template(path = "web/calls.html")]
struct CallsPage {
    ctx: Ctx,
    webhook: i64,
    calls: Vec<CallJson>,
}

pub async fn calls(State(state): State<AppState>, user: WebUser, Path(id): Path<i64>) -> Response {
    let ctx = user.ctx();
    let q = crate::api::channels::CallsQuery { dead: false };
    match list_calls(
        State(state),
        user.authed(),
        ApiPath(id),
        Ok(axum::extract::Query(q)),
    )
    .await
    {
        Ok(c) => render(&CallsPage {
            ctx,
            webhook: id,
            calls: c.0,
        }),
        Err(e) => app_error(&ctx, &e),
    }
}

pub async fn retry(
    State(state): State<AppState>,
    Path((id, call)): Path<(i64, i64)>,
    Posted(user, _): Posted,
) -> Response {
    match retry_call(State(state), user.authed(), ApiPath((id, call))).await {
        Ok(_) => Redirect::to(&format!("/settings/webhooks/{id}")).into_response(),
        Err(e) => app_error(&user.ctx(), &e),
    }
}

/// Identifiers as rows of kind and value; a refusal keeps every row.
pub async fn identifiers(State(state): State<AppState>, Posted(user, form): Posted) -> Response {
    let mut ctx = user.ctx();
    // A row whose value is empty is one to remove (its kind select is never empty).
    let rows: Vec<[String; 2]> = rows_of(&form, ["kind", "value"])
        .into_iter()
        .map(|(_, r)| r)
        .filter(|[_, value]| !value.is_empty())
        .collect();
    let list = rows
        .iter()
        .map(|[kind, value]| crate::api::identifiers::IdentifierJson {
            kind: kind.clone(),
            value: value.clone(),
        })
        .collect();
    let slug = user.user.org.to_string();
    match crate::api::identifiers::put_identifiers(
        State(state.clone()),
        user.authed(),
        ApiPath(slug),
        crate::json::ApiJson(list),
    )
    .await
    {
        Ok(_) => Redirect::to("/settings").into_response(),
        Err(e) => {
            ctx.error = Some(ctx.describe(&e));
            let kept = Kept {
                contacts: None,
                identifiers: Some(rows),
            };
            page_with(&state, &user, ctx, None, kept).await
        }
    }
}
