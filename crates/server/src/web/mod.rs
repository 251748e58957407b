//! The web pages: server-rendered HTML (askama templates in `templates/web/`) for people who
//! never call the API. Every page is a thin client of the API handlers: it calls the same
//! handler functions with the signed-in user, so the access policy, validation and audit are
//! the API's, and a page can show nothing the API would not. Words come from `i18n`.
//!
//! Sign-in is the API's session cookie (`HttpOnly`, `SameSite=Strict`). Every form that
//! changes something carries a CSRF token derived from the session secret, which a page of
//! another site cannot know.

pub mod bell;
pub mod charts;
pub mod i18n;
pub mod picker;
pub mod time;

mod admin;
mod alerts;
mod reports;
mod settings;
pub mod table;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use ciphub_domain::identity::Role;
use ciphub_domain::registry::OrgKind;
use ciphub_store::{TokenLookup, UserRecord};

use crate::AppState;
use crate::auth::{Authed, hash_secret, session_cookie};
use crate::error::AppError;
use i18n::Lang;

/// Every page's URL. `alert_limit` is the largest new alert with its attachments.
pub fn routes(alert_limit: usize) -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/settings/language", post(set_language))
        .route("/dashboard", get(dashboard))
        .route("/reports", get(reports::list))
        .route("/reports/new", get(reports::wizard).post(reports::file))
        .route("/reports/{id}", get(reports::detail))
        .route("/reports/{id}/relay", post(reports::relay))
        .route("/reports/{id}/stage", post(reports::stage))
        .route("/reports/{id}/consent", post(reports::consent))
        .route("/reports/{id}/triage", post(reports::triage))
        .route("/reports/{id}/notes", post(reports::note))
        .route(
            "/incidents",
            get(reports::incidents).post(reports::new_incident),
        )
        .route("/incidents/{id}", get(reports::incident))
        .route(
            "/alerts",
            get(alerts::inbox)
                .post(alerts::send)
                .layer(axum::extract::DefaultBodyLimit::max(alert_limit)),
        )
        .route("/alerts/new", get(alerts::composer))
        .route("/alerts/{id}", get(alerts::detail))
        .route("/alerts/{id}/ack", post(alerts::ack))
        .route("/alerts/{id}/relay", post(alerts::relay))
        .route("/registry", get(admin::registry))
        .route("/registry/{slug}", get(admin::organization))
        .route("/audit", get(admin::audit))
        .route("/admin/users", get(admin::users).post(admin::add_user))
        .route("/admin/users/{name}/disabled", post(admin::toggle_user))
        .route("/admin/tokens", post(admin::add_token))
        .route("/admin/tokens/{id}/revoke", post(admin::remove_token))
        .route("/settings", get(settings::show))
        .route("/settings/relay-rule", post(settings::relay_rule))
        .route("/settings/time-zone", post(settings::time_zone))
        .route("/settings/password", post(settings::password))
        .route("/settings/contacts", post(settings::contacts))
        .route("/settings/identifiers", post(settings::identifiers))
        .route("/settings/webhooks", post(settings::add_webhook))
        .route("/settings/webhooks/{id}", get(settings::calls))
        .route(
            "/settings/webhooks/{id}/delete",
            post(settings::remove_webhook),
        )
        .route(
            "/settings/webhooks/{id}/calls/{call}/retry",
            post(settings::retry),
        )
}

/// The signed-in user of a page. Without a valid session, pages redirect to the login.
pub struct WebUser {
    pub user: UserRecord,
    session: String,
    pub lang: Lang,
    /// The time zone the pages show times in: the user's, else the instance's.
    pub tz: chrono_tz::Tz,
    /// The bell's unread alerts, read for pages (`GET`); `None` for forms.
    pub unread: Option<bell::Unread>,
    /// The names of the user's organization (English, Japanese), for the page header.
    org_names: Option<(String, Option<String>)>,
}

impl WebUser {
    /// The user as the API handlers take it.
    pub fn authed(&self) -> Authed {
        Authed(self.user.clone())
    }

    /// The token forms carry to prove they come from a page of this site.
    pub fn csrf(&self) -> String {
        csrf_for(&self.session)
    }

    /// What every page shows around its content.
    pub fn ctx(&self) -> Ctx {
        let u = &self.user;
        Ctx {
            lang: self.lang,
            tz: self.tz,
            now: chrono::Utc::now(),
            names: self
                .org_names
                .iter()
                .map(|n| (u.org.to_string(), n.clone()))
                .collect(),
            sectors: Default::default(),
            unread: self.unread,
            user: u.name.to_string(),
            org: u.org.to_string(),
            csrf: self.csrf(),
            can_send: ciphub_domain::policy::check(
                &u.actor(),
                ciphub_domain::policy::Action::SendAlert,
            )
            .is_ok(),
            can_report: ciphub_domain::policy::check(
                &u.actor(),
                ciphub_domain::policy::Action::FileReport,
            )
            .is_ok(),
            // Whether the user passes on alerts its organization receives; the page shows the
            // form only on an alert that was delivered to it.
            is_secretariat: ciphub_domain::policy::check(
                &u.actor(),
                ciphub_domain::policy::Action::PassOnAlert { delivered: true },
            )
            .is_ok(),
            error: None,
            flash: None,
        }
    }
}

fn csrf_for(session: &str) -> String {
    crate::auth::csrf_token(session)
}

fn browser_lang(headers: &HeaderMap) -> Lang {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Lang::from_tag)
        .unwrap_or(Lang::En)
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Back to this page once signed in (a link from an alert's e-mail, say).
        let here = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        let to_login = || {
            if parts.method == axum::http::Method::GET && here != "/" && here != "/dashboard" {
                let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
                Redirect::to(&format!("/login?next={next}")).into_response()
            } else {
                Redirect::to("/login").into_response()
            }
        };
        let Some(session) = session_cookie(&parts.headers) else {
            return Err(to_login());
        };
        let user = match state.store.lookup_session(&hash_secret(&session)).await {
            Ok(TokenLookup::Valid(user)) => user,
            Ok(_) => return Err(to_login()),
            Err(e) => return Err(AppError::from(e).into_response()),
        };
        let (locale, zone) = match state.store.user_preferences(user.id).await {
            Ok(p) => p,
            Err(e) => return Err(AppError::from(e).into_response()),
        };
        let lang = match locale {
            Some(tag) => Lang::from_tag(&tag),
            None => browser_lang(&parts.headers),
        };
        let tz = zone
            .and_then(|z| time::parse_zone(&z).ok())
            .unwrap_or(state.config.time_zone);
        // Pages show the bell; forms redirect, so they need no count. A failure leaves the
        // bell without a number rather than failing the page.
        let unread = if parts.method == axum::http::Method::GET {
            bell::unread_alerts(state, &user, bell::opened_by(parts.uri.path()))
                .await
                .ok()
        } else {
            None
        };
        // The header names the user's organization; without its name, it shows the id.
        let org_names = state
            .store
            .organization_names(&[user.org.as_str()])
            .await
            .ok()
            .and_then(|mut n| n.remove(user.org.as_str()));
        Ok(Self {
            user,
            session,
            lang,
            tz,
            unread,
            org_names,
        })
    }
}

/// What every page shows around its content: the user, the menu, the language, messages.
pub struct Ctx {
    pub lang: Lang,
    /// The zone times are shown in, and the time the page was made.
    pub tz: chrono_tz::Tz,
    pub now: chrono::DateTime<chrono::Utc>,
    /// Names of the organizations the page names, by id (see `Ctx::org`).
    pub names: std::collections::HashMap<String, (String, Option<String>)>,
    /// The bell's unread alerts; `None` shows the bell without a number.
    pub unread: Option<bell::Unread>,
    /// Names of the sectors, by id (see `Ctx::sector`).
    pub sectors: std::collections::HashMap<String, (String, Option<String>)>,
    pub user: String,
    pub org: String,
    pub csrf: String,
    pub can_send: bool,
    pub can_report: bool,
    pub is_secretariat: bool,
    /// A problem to show at the top of the page.
    pub error: Option<String>,
    /// A confirmation to show at the top of the page.
    pub flash: Option<String>,
}

impl Ctx {
    /// Loads the names of the organizations `ids` for `Ctx::org` (a failure leaves the ids).
    pub async fn name_orgs<'a>(
        &mut self,
        state: &AppState,
        ids: impl IntoIterator<Item = &'a str>,
    ) {
        let ids: Vec<&str> = ids.into_iter().collect();
        if let Ok(names) = state.store.organization_names(&ids).await {
            self.names.extend(names);
        }
    }

    /// An organization's name in the page's language (its Japanese name where it has one),
    /// or the text itself when it names no organization loaded by `name_orgs`.
    pub fn org(&self, id: &str) -> String {
        match self.names.get(id) {
            Some((_, Some(ja))) if self.lang == Lang::Ja => ja.clone(),
            Some((en, _)) => en.clone(),
            None => id.to_owned(),
        }
    }

    /// Loads the names of every sector for `Ctx::sector` (a failure leaves the ids).
    pub async fn name_sectors(&mut self, state: &AppState) {
        if let Ok(sectors) = state.store.list_sectors().await {
            self.sectors.extend(sectors.into_iter().map(|s| {
                (
                    s.sector.slug.to_string(),
                    (s.sector.name_en, s.sector.name_ja),
                )
            }));
        }
    }

    /// A sector's name in the page's language, or its id when `name_sectors` did not load it.
    pub fn sector(&self, id: &str) -> String {
        match self.sectors.get(id) {
            Some((_, Some(ja))) if self.lang == Lang::Ja => ja.clone(),
            Some((en, _)) => en.clone(),
            None => id.to_owned(),
        }
    }

    /// Who filed a report, as the reader may know it, in the page's language: the
    /// organization's name (loaded by `name_orgs`), or "an operator in the … sector" with the
    /// sectors' names (loaded by `name_sectors`).
    pub fn reporter(&self, r: &crate::api::reports::ReportJson) -> String {
        match &r.reporter {
            Some(p) if self.names.contains_key(&p.org) => self.org(&p.org),
            Some(_) => r.reporter_label.clone(),
            None if self.lang == Lang::En => r.reporter_label.clone(),
            None if r.sectors.is_empty() => self.t("reporter-anonymous"),
            None => {
                let sectors: Vec<String> = r.sectors.iter().map(|s| self.sector(s)).collect();
                self.t1("reporter-anonymous-in", "sectors", sectors.join("、"))
            }
        }
    }

    /// Loads the names `reporter` needs for `reports`.
    pub async fn name_reporters(
        &mut self,
        state: &AppState,
        reports: &[crate::api::reports::ReportJson],
    ) {
        self.name_sectors(state).await;
        self.name_orgs(
            state,
            reports
                .iter()
                .filter_map(|r| r.reporter.as_ref().map(|p| p.org.as_str())),
        )
        .await;
    }

    /// The message `key` in the page's language.
    pub fn t(&self, key: &str) -> String {
        i18n::t(self.lang, key)
    }

    /// The message `key` with one argument.
    pub fn t1(&self, key: &str, name: &str, value: impl std::fmt::Display) -> String {
        i18n::t_args(self.lang, key, &[(name, value.to_string())])
    }

    /// The message `key` with three arguments.
    pub fn t3(
        &self,
        key: &str,
        a: &(&str, impl std::fmt::Display),
        b: &(&str, impl std::fmt::Display),
        c: &(&str, impl std::fmt::Display),
    ) -> String {
        i18n::t_args(
            self.lang,
            key,
            &[
                (a.0, a.1.to_string()),
                (b.0, b.1.to_string()),
                (c.0, c.1.to_string()),
            ],
        )
    }

    /// The bell's number of unread alerts (0 when unknown).
    pub fn unread_count(&self) -> u32 {
        self.unread.map_or(0, |u| u.count)
    }

    /// The bell's number as shown: "3", or "30+" when there may be more.
    pub fn unread_shown(&self) -> String {
        match self.unread {
            Some(u) if u.more => format!("{}+", u.count),
            Some(u) => u.count.to_string(),
            None => String::new(),
        }
    }

    /// The bell's accessible name: how many alerts are unread, in the page's language.
    pub fn bell_label(&self) -> String {
        match self.unread {
            None => self.t("nav-inbox"),
            Some(u) if u.more => self.t1("bell-unread-many", "count", u.count),
            Some(u) if u.count == 0 => self.t("bell-none"),
            Some(u) if u.count == 1 => self.t("bell-unread-one"),
            Some(u) => self.t1("bell-unread", "count", u.count),
        }
    }

    /// "Signed in as USER (ORG)".
    pub fn signed_in(&self) -> String {
        i18n::t_args(
            self.lang,
            "signed-in-as",
            &[("user", self.user.clone()), ("org", self.org(&self.org))],
        )
    }

    /// A stored term (a cause, a status, a stage, a kind) in the page's language: the message
    /// `{group}-{value}`, or the term itself when there is none.
    pub fn term(&self, group: &str, value: &str) -> String {
        let key = format!("{group}-{value}");
        let t = self.t(&key);
        if t == key { value.to_owned() } else { t }
    }

    /// A severity level's name in the page's language.
    pub fn level(
        &self,
        schema: &str,
        level: impl std::borrow::Borrow<u8>,
        name_en: &str,
    ) -> String {
        let level = *level.borrow();
        if self.lang == Lang::Ja
            && let Ok(s) = ciphub_domain::severity::shipped_schema(schema)
            && let Some(l) = s.levels.iter().find(|l| l.number == level)
            && let Some(ja) = &l.name_ja
        {
            return format!("{level} {ja}");
        }
        format!("{level} {name_en}")
    }

    /// A formation's name.
    pub fn formation(&self, formation: &str) -> String {
        self.t(&format!("formation-{formation}"))
    }

    /// What a formation reveals to whom.
    pub fn formation_reveals(&self, formation: &str) -> String {
        self.t(&format!("formation-{formation}-reveals"))
    }

    /// The page's language tag.
    pub fn lang_tag(&self) -> &'static str {
        self.lang.tag()
    }

    /// The other language's tag, for the switch.
    pub fn other_lang(&self) -> &'static str {
        self.lang.other().tag()
    }

    /// An API error as a person reads it: the field at fault and what is wrong.
    pub fn describe(&self, e: &AppError) -> String {
        match e {
            AppError::BadRequest {
                message,
                field: Some(field),
                ..
            } => {
                // The field's name in the page's language ("attachments[0].name" reads as the
                // name of "attachments"), and the API's own words about what is wrong.
                let base = field
                    .split(['[', '.'])
                    .find(|p| !p.is_empty())
                    .unwrap_or(field);
                // The API words its refusals in English: a Japanese page names the field and
                // what to do in Japanese, and leaves the English out.
                if self.lang == Lang::Ja && is_english(message) {
                    let key = if message.starts_with("name at least one") {
                        "field-error-none"
                    } else {
                        "field-error-check"
                    };
                    return i18n::t_args(self.lang, key, &[("field", self.term("field", base))]);
                }
                i18n::t_args(
                    self.lang,
                    "field-error",
                    &[
                        ("field", self.term("field", base)),
                        ("message", message.clone()),
                    ],
                )
            }
            AppError::NotFound(_) => self.t("not-found"),
            AppError::Internal(_) => self.t("error-title"),
            other => other.to_string(),
        }
    }
}

/// Whether `text` is English words (three or more in a row), as the API's messages are.
fn is_english(text: &str) -> bool {
    let mut run = 0;
    for word in text.split_whitespace() {
        let word = word.trim_matches(|c: char| c.is_ascii_punctuation());
        if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphabetic()) {
            run += 1;
            if run >= 3 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// The TLP labels, most restrictive first, as the domain lists them.
pub fn tlp_labels() -> Vec<&'static str> {
    ciphub_domain::report::Tlp::ALL
        .iter()
        .map(|t| t.as_str())
        .collect()
}

/// Every role's name, as the domain lists them.
pub fn role_names() -> Vec<&'static str> {
    Role::ALL.iter().map(|r| r.as_str()).collect()
}

/// A file sent with a form.
pub struct Upload {
    pub name: String,
    pub media_type: Option<String>,
    pub content: Vec<u8>,
}

/// A submitted form: its fields in order, repeated names kept (checkboxes), and its files
/// (multipart forms).
pub struct FormData(Vec<(String, String)>, Vec<Upload>);

impl FormData {
    /// The first value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    }

    /// The first value of `name` exactly as sent (a password: spaces count).
    pub fn get_raw(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// Every value of `name`, trimmed, empty ones included: the columns of a table form,
    /// read by position.
    pub fn every(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    /// Whether `name` was sent (a ticked checkbox).
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// Fields whose names start with `prefix`, without it.
    pub fn with_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|k| (k.to_owned(), v.clone())))
            .collect()
    }
}

impl FormData {
    /// The files sent, in order (empty file inputs left out).
    pub fn files(&self) -> &[Upload] {
        &self.1
    }
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let form = Self::read(req, state).await?;
        // PostgreSQL stores no NUL in text, and no text of ours needs one (`json::parse`
        // refuses it in the API alike).
        let nul = |t: &str| t.contains('\0');
        if form.0.iter().any(|(k, v)| nul(k) || nul(v))
            || form
                .1
                .iter()
                .any(|u| nul(&u.name) || u.media_type.as_deref().is_some_and(nul))
        {
            return Err(bad_text_page(&headers));
        }
        Ok(form)
    }
}

impl FormData {
    async fn read<S: Send + Sync>(req: Request, state: &S) -> Result<Self, Response> {
        let multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        if !multipart {
            let bytes = axum::body::Bytes::from_request(req, state)
                .await
                .map_err(IntoResponse::into_response)?;
            return Ok(Self(
                form_urlencoded::parse(&bytes)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
                Vec::new(),
            ));
        }
        let mut parts = axum::extract::Multipart::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let (mut fields, mut files) = (Vec::new(), Vec::new());
        while let Some(field) = parts
            .next_field()
            .await
            .map_err(IntoResponse::into_response)?
        {
            let name = field.name().unwrap_or_default().to_owned();
            match field.file_name().map(str::to_owned) {
                Some(file_name) => {
                    let media_type = field.content_type().map(str::to_owned);
                    let content = field
                        .bytes()
                        .await
                        .map_err(IntoResponse::into_response)?
                        .to_vec();
                    if !file_name.is_empty() {
                        files.push(Upload {
                            name: file_name,
                            media_type,
                            content,
                        });
                    }
                }
                None => {
                    let text = field.text().await.map_err(IntoResponse::into_response)?;
                    fields.push((name, text));
                }
            }
        }
        Ok(Self(fields, files))
    }
}

/// A form that changes something, from a signed-in user, with the session's CSRF token
/// checked: a handler that takes it cannot forget the check. Without a session it redirects to
/// the login; with a wrong token it answers 403.
pub struct Posted(pub WebUser, pub FormData);

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let user = WebUser::from_request_parts(&mut parts, state).await?;
        let form = FormData::from_request(Request::from_parts(parts, body), state).await?;
        match check_csrf(&user, &form) {
            Some(refusal) => Err(refusal),
            None => Ok(Self(user, form)),
        }
    }
}

/// The refusal of a form without the session's CSRF token; `None` when the token is right.
fn check_csrf(user: &WebUser, form: &FormData) -> Option<Response> {
    let sent = form.get("csrf");
    let expected = user.csrf();
    // Compared in full whatever the content, so timing tells nothing.
    let same = sent.len() == expected.len()
        && sent
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        None
    } else {
        let ctx = user.ctx();
        Some(error_page(
            &ctx,
            StatusCode::FORBIDDEN,
            ctx.t("csrf-failed"),
        ))
    }
}

/// Renders a template, or a plain 500 when it cannot.
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => AppError::Internal(format!("template: {e}")).into_response(),
    }
}

#[derive(Template)]
#[template(path = "web/error.html")]
struct ErrorPage<'a> {
    ctx: &'a Ctx,
    message: String,
}

/// A page that says what is wrong.
pub fn error_page(ctx: &Ctx, status: StatusCode, message: String) -> Response {
    let mut resp = render(&ErrorPage { ctx, message });
    *resp.status_mut() = status;
    resp
}

/// An API error as a page.
pub fn app_error(ctx: &Ctx, e: &AppError) -> Response {
    let status = match e {
        AppError::BadRequest { status, .. } => *status,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
        AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        AppError::Internal(m) => {
            tracing::error!(error = %m, "page failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    error_page(ctx, status, ctx.describe(e))
}

#[derive(Template)]
#[template(path = "web/login.html")]
struct LoginPage {
    ctx: Ctx,
    user: String,
    /// The page to go to once signed in.
    next: String,
}

/// Where to go after signing in: `next` if it is a page of this site, else the dashboard.
fn after_login(next: &str) -> String {
    if crate::markdown::same_site_path(next) && !next.starts_with("/login") {
        next.to_owned()
    } else {
        "/dashboard".to_owned()
    }
}

#[derive(serde::Deserialize)]
struct LoginQuery {
    #[serde(default)]
    next: String,
}

fn anonymous_ctx(lang: Lang) -> Ctx {
    Ctx {
        lang,
        // The login page shows no times.
        tz: chrono_tz::UTC,
        now: chrono::Utc::now(),
        names: Default::default(),
        unread: None,
        sectors: Default::default(),
        user: String::new(),
        org: String::new(),
        csrf: String::new(),
        can_send: false,
        can_report: false,
        is_secretariat: false,
        error: None,
        flash: None,
    }
}

async fn login_page(headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    render(&LoginPage {
        ctx: anonymous_ctx(browser_lang(&headers)),
        user: String::new(),
        next: after_login(&q.next),
    })
}

/// A page for an address that is none of ours, in the browser's language.
pub fn not_found_page(headers: &HeaderMap) -> Response {
    let ctx = anonymous_ctx(browser_lang(headers));
    let message = ctx.t("error-no-page");
    error_page(&ctx, StatusCode::NOT_FOUND, message)
}

/// A page for a request whose address or form holds the NUL character, which no text may.
pub fn bad_text_page(headers: &HeaderMap) -> Response {
    let ctx = anonymous_ctx(browser_lang(headers));
    let message = ctx.t("error-nul");
    error_page(&ctx, StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// Whether a form comes from this site: browsers send `Origin` with every form post, and a
/// page elsewhere cannot make it ours. (Logging in has no session yet to derive a token from.)
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest == host)
}

async fn login(State(state): State<AppState>, headers: HeaderMap, form: FormData) -> Response {
    let lang = browser_lang(&headers);
    let mut ctx = anonymous_ctx(lang);
    if !same_origin(&headers) {
        return error_page(&ctx, StatusCode::FORBIDDEN, ctx.t("csrf-failed"));
    }
    let body = crate::api::session::LoginJson {
        user: form.get("user"),
        password: form
            .0
            .iter()
            .find(|(k, _)| k == "password")
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
    };
    let user = body.user.clone();
    let next = after_login(&form.get("next"));
    match crate::api::session::create_session(State(state), crate::json::ApiJson(body)).await {
        Ok(resp) => {
            let mut out = Redirect::to(&next).into_response();
            if let Some(cookie) = resp.headers().get(header::SET_COOKIE) {
                out.headers_mut().insert(header::SET_COOKIE, cookie.clone());
            }
            out
        }
        Err(e) => {
            let status = match e {
                AppError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            ctx.error = Some(ctx.t(if status == StatusCode::TOO_MANY_REQUESTS {
                "login-too-many"
            } else {
                "login-failed"
            }));
            let mut resp = render(&LoginPage { ctx, user, next });
            *resp.status_mut() = status;
            resp
        }
    }
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Posted(user, _): Posted,
) -> Response {
    match crate::api::session::delete_session(State(state), user.authed(), headers).await {
        Ok(resp) => {
            let mut out = Redirect::to("/login").into_response();
            if let Some(cookie) = resp.headers().get(header::SET_COOKIE) {
                out.headers_mut().insert(header::SET_COOKIE, cookie.clone());
            }
            out
        }
        Err(e) => app_error(&user.ctx(), &e),
    }
}

async fn set_language(State(state): State<AppState>, Posted(user, form): Posted) -> Response {
    let lang = Lang::from_tag(&form.get("lang"));
    if let Err(e) = state.store.set_user_locale(&user.user, lang.tag()).await {
        return app_error(&user.ctx(), &e.into());
    }
    let back = form.get("back");
    // Only a path on this site: never an address elsewhere.
    let back = if crate::markdown::same_site_path(&back) {
        back
    } else {
        "/dashboard".to_owned()
    };
    Redirect::to(&back).into_response()
}

/// One row of the dashboard's lists.
pub struct Line {
    pub href: String,
    pub label: String,
    pub tag: String,
    /// A time (RFC 3339, shown in the user's zone), an organization's id (shown by its name),
    /// or other text.
    pub note: String,
}

/// One box of the dashboard.
pub struct Section {
    pub title: &'static str,
    pub id: &'static str,
    pub lines: Vec<Line>,
}

#[derive(Template)]
#[template(path = "web/dashboard.html")]
struct DashboardPage {
    ctx: Ctx,
    sections: Vec<Section>,
    /// The charts that serve the user's organization's work.
    charts: Vec<charts::Chart>,
}

async fn dashboard(State(state): State<AppState>, user: WebUser) -> Response {
    let ctx = user.ctx();
    match dashboard_data(&state, &user, ctx).await {
        Ok(page) => render(&page),
        Err(e) => app_error(&user.ctx(), &e),
    }
}

async fn dashboard_data(
    state: &AppState,
    user: &WebUser,
    ctx: Ctx,
) -> Result<DashboardPage, AppError> {
    use crate::api::reports::{ReportQuery, list_reports};
    // The coordinator's chart looks further back than the other dashboards' lists.
    let coordinator = user.user.org_kind == OrgKind::Coordinator;
    let query = |overdue: bool| ReportQuery {
        before: None,
        limit: Some(if coordinator { 100 } else { 50 }),
        overdue: overdue.then_some(true),
        status: None,
        q: None,
        exercise: Some(false),
    };
    // One read of the newest reports serves the queue, the overdue list and the chart. An
    // exercise's reports and alerts are the exercise's: the dashboard shows real work only.
    let mut all = list_reports(
        State(state.clone()),
        user.authed(),
        Ok(axum::extract::Query(query(false))),
    )
    .await?
    .0;
    all.retain(|r| r.exercise.is_none());
    let mut ctx = ctx;
    ctx.name_reporters(state, &all).await;
    let ctx = ctx;
    let line = |r: &crate::api::reports::ReportJson| Line {
        href: format!("/reports/{}", r.id),
        label: r
            .title
            .clone()
            .unwrap_or_else(|| format!("#{} {}", r.id, ctx.reporter(r))),
        tag: ctx.level(&r.severity.schema, r.severity.level, &r.severity.name_en),
        note: ctx.reporter(r),
    };
    let overdue: Vec<&crate::api::reports::ReportJson> = all.iter().filter(|r| r.overdue).collect();
    let mut alerts = crate::api::alerts::list_alerts(
        State(state.clone()),
        user.authed(),
        Ok(axum::extract::Query(crate::api::alerts::AlertQuery {
            before: None,
            limit: Some(100),
            exercise: Some(false),
        })),
    )
    .await?
    .0;
    alerts.retain(|a| !a.exercise);
    let unacked = alerts
        .iter()
        .filter(|a| {
            a.my_delivery
                .as_ref()
                .is_some_and(|d| d.acknowledged_at.is_none())
        })
        .map(|a| Line {
            href: format!("/alerts/{}", a.id),
            label: a.title.clone(),
            tag: a.tlp.clone(),
            note: a.sender_org.clone(),
        })
        .collect();
    let notices = crate::api::channels::list_notices(State(state.clone()), user.authed())
        .await?
        .0
        .into_iter()
        .take(20)
        .map(|n| Line {
            href: format!("/alerts/{}", n.alert),
            label: format!("#{} {}", n.alert, n.about),
            tag: ctx.term("notice", &n.kind),
            note: n.created_at,
        })
        .collect();
    // Alerts this organization sent (a CEPTOAR: passed on to its members), with how many
    // recipients have read and acknowledged them: ten, one summary each.
    let (mut sent_alerts, mut sent) = (Vec::new(), Vec::new());
    if ctx.can_send {
        for a in alerts.iter().filter(|a| a.sender_org == ctx.org).take(10) {
            let (total, read, acked) = state.store.delivery_summary(a.id).await?;
            sent.push(Line {
                href: format!("/alerts/{}", a.id),
                label: a.title.clone(),
                tag: format!("{acked}/{total}"),
                note: a.tlp.clone(),
            });
            let n = |v: i64| u32::try_from(v).unwrap_or(0);
            sent_alerts.push(charts::SentAlert {
                id: a.id,
                title: a.title.clone(),
                recipients: n(total),
                read: n(read),
                acked: n(acked),
            });
        }
    }
    // The next deadlines of this organization's own reports, soonest first.
    let mut deadlines: Vec<(String, Line)> = all
        .iter()
        .filter(|r| r.reporter.as_ref().is_some_and(|p| p.org == ctx.org))
        .filter_map(|r| {
            let due = r.next_due.as_ref()?;
            Some((
                due.by.clone(),
                Line {
                    href: format!("/reports/{}", r.id),
                    label: r.title.clone().unwrap_or_default(),
                    tag: ctx.term("stage", &due.stage),
                    note: due.by.clone(),
                },
            ))
        })
        .collect();
    deadlines.sort_by(|a, b| a.0.cmp(&b.0));
    let notifications = crate::api::notifications::list_notifications(
        State(state.clone()),
        user.authed(),
        Ok(axum::extract::Query(
            crate::api::notifications::NotificationQuery { limit: Some(20) },
        )),
    )
    .await?
    .0
    .into_iter()
    .map(|n| Line {
        href: format!("/reports/{}", n.report_id),
        label: format!(
            "#{} {}",
            n.report_id,
            ctx.term("notification", &n.kind.replace('.', "-"))
        ),
        tag: if n.urgent { "!".into() } else { String::new() },
        note: n.created_at,
    })
    .collect();
    let charts = dashboard_charts(state, user, &ctx, &all, &alerts, &sent_alerts).await?;
    let sections = vec![
        Section {
            title: "dash-unacked",
            id: "unacked",
            lines: unacked,
        },
        Section {
            title: "dash-overdue",
            id: "overdue",
            lines: overdue.iter().map(|r| line(r)).collect(),
        },
        Section {
            title: "dash-open-reports",
            id: "queue",
            lines: all.iter().take(20).map(line).collect(),
        },
        Section {
            title: "dash-notices",
            id: "notices",
            lines: notices,
        },
        Section {
            title: "dash-notifications",
            id: "notifications",
            lines: notifications,
        },
    ];
    let mut sections = sections;
    // Values that link items of several organizations: the coordinator's clusters across
    // sectors, and for everyone else what they may see of them.
    let clusters = crate::api::correlations::list_correlations(
        State(state.clone()),
        user.authed(),
        Ok(axum::extract::Query(
            crate::api::correlations::CorrelationQuery {
                item: None,
                value: None,
                days: None,
                limit: Some(10),
            },
        )),
    )
    .await?
    .0
    .clusters
    .into_iter()
    .map(|c| {
        let organizations = c.hidden.as_ref().map_or(0, |h| h.organizations);
        let hidden_items = c.hidden.as_ref().map_or(0, |h| h.items);
        let mut sectors: Vec<String> = c.items.iter().flat_map(|i| i.sectors.clone()).collect();
        if let Some(h) = &c.hidden {
            sectors.extend(h.sectors.keys().cloned());
        }
        sectors.sort();
        sectors.dedup();
        let sectors: Vec<String> = sectors.iter().map(|s| ctx.sector(s)).collect();
        Line {
            href: c
                .items
                .iter()
                .find_map(|i| i.page())
                .unwrap_or_else(|| "#correlations".to_owned()),
            label: c.value,
            tag: format!("{} · {}", c.kind, c.items.len() + hidden_items),
            note: if organizations > 0 {
                format!("{} (+{organizations})", sectors.join(", "))
            } else {
                sectors.join(", ")
            },
        }
    })
    .collect();
    sections.push(Section {
        title: "dash-correlations",
        id: "correlations",
        lines: clusters,
    });
    if !deadlines.is_empty() || ctx.can_report {
        sections.insert(
            1,
            Section {
                title: "dash-deadlines",
                id: "deadlines",
                lines: deadlines.into_iter().map(|(_, l)| l).take(20).collect(),
            },
        );
    }
    if ctx.can_send {
        sections.insert(
            1,
            Section {
                title: "dash-sent",
                id: "sent",
                lines: sent,
            },
        );
    }
    let mut ctx = ctx;
    let notes: Vec<String> = sections
        .iter()
        .flat_map(|s| s.lines.iter().map(|l| l.note.clone()))
        .collect();
    ctx.name_orgs(state, notes.iter().map(String::as_str)).await;
    Ok(DashboardPage {
        sections,
        charts,
        ctx,
    })
}

/// The charts of a dashboard, by the kind of the user's organization, from what the page read
/// through the API: the coordinator's reports by sector and over time; a ministry's reports
/// in its sectors; a CEPTOAR's members' reports relayed or waiting; an operator's own reports
/// and the alerts it received; and for every sender, who acknowledged what it sent.
async fn dashboard_charts(
    state: &AppState,
    user: &WebUser,
    ctx: &Ctx,
    reports: &[crate::api::reports::ReportJson],
    alerts: &[crate::api::alerts::AlertJson],
    sent: &[charts::SentAlert],
) -> Result<Vec<charts::Chart>, AppError> {
    let kind = user.user.org_kind;
    let mut out = Vec::new();
    if matches!(
        kind,
        OrgKind::Coordinator | OrgKind::Ministry | OrgKind::Agency | OrgKind::Council
    ) {
        let list = state.store.list_sectors().await?;
        let names: Vec<(String, String)> = list
            .iter()
            .map(|s| {
                let name = match (&s.sector.name_ja, ctx.lang) {
                    (Some(ja), Lang::Ja) => ja.clone(),
                    _ => s.sector.name_en.clone(),
                };
                (s.sector.slug.to_string(), name)
            })
            .collect();
        // A ministry's are the sectors it is responsible for.
        let own: Option<std::collections::BTreeSet<String>> =
            (kind == OrgKind::Ministry).then(|| {
                list.iter()
                    .filter(|s| s.responsible.iter().any(|m| m.org.slug == user.user.org))
                    .map(|s| s.sector.slug.to_string())
                    .collect()
            });
        out.push(charts::by_sector_and_level(
            reports,
            &names,
            own.as_ref(),
            ctx,
        ));
        if kind == OrgKind::Coordinator {
            out.push(charts::timeline(reports, ctx, state.store.clock().now()));
        }
    }
    match kind {
        OrgKind::Ceptoar => out.push(charts::member_relays(reports, ctx)),
        OrgKind::Operator => {
            out.push(charts::own_reports(reports, ctx));
            out.push(charts::my_alerts(alerts, ctx));
        }
        OrgKind::External => out.push(charts::my_alerts(alerts, ctx)),
        _ => {}
    }
    if ctx.can_send {
        out.push(charts::acknowledgements(
            sent,
            ctx,
            kind == OrgKind::Ceptoar,
        ));
    }
    Ok(out)
}
