//! The public face: TLP:CLEAR alerts (not exercises) on an unauthenticated advisories page and
//! Atom feed, the policy's public-relations activity. Nothing else is served without credentials.

use askama::Template;
use atom_syndication::{
    ContentBuilder, EntryBuilder, FeedBuilder, LinkBuilder, PersonBuilder, Text,
};
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};

use crate::AppState;
use crate::api::rfc3339;
use crate::error::AppError;
use crate::markdown;

/// Advisories shown on the page and in the feed.
const PUBLIC_LIMIT: u32 = 50;

/// One advisory on the page.
struct Advisory {
    id: i64,
    title: String,
    sender: String,
    created: String,
    body_html: String,
}

#[derive(Template)]
#[template(path = "advisories.html")]
struct AdvisoriesPage {
    advisories: Vec<Advisory>,
}

async fn advisories(state: &AppState) -> Result<Vec<Advisory>, AppError> {
    let alerts = state.store.public_alerts(PUBLIC_LIMIT).await?;
    let mut out = Vec::with_capacity(alerts.len());
    for a in alerts {
        let sender = state
            .store
            .organization_name(&a.sender_org)
            .await
            .unwrap_or_else(|_| a.sender_org.to_string());
        out.push(Advisory {
            id: a.id,
            title: a.title,
            sender,
            created: rfc3339(a.created),
            body_html: markdown::render(&a.body),
        });
    }
    Ok(out)
}

/// The public advisories page.
#[utoipa::path(get, path = "/public/advisories", tag = "public", security(()),
    responses((status = 200, description = "HTML page of TLP:CLEAR advisories", content_type = "text/html")))]
pub async fn get_advisories(State(state): State<AppState>) -> Result<Html<String>, AppError> {
    let page = AdvisoriesPage {
        advisories: advisories(&state).await?,
    };
    page.render()
        .map(Html)
        .map_err(|e| AppError::Internal(format!("advisories template: {e}")))
}

/// The public advisories as an Atom feed.
#[utoipa::path(get, path = "/public/advisories.atom", tag = "public", security(()),
    responses((status = 200, description = "Atom feed of TLP:CLEAR advisories", content_type = "application/atom+xml")))]
pub async fn get_advisories_feed(
    State(state): State<AppState>,
) -> Result<impl IntoResponse, AppError> {
    // Never from the request's Host header, which the caller chooses: a cache in front of
    // the server would then hand everyone links to the caller's site. Without a public URL,
    // links are relative to the feed and ids are tag URIs of this instance.
    let base = state
        .config
        .public_url
        .as_deref()
        .map(|url| url.trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let id_base = if base.is_empty() {
        format!("tag:ciphub,2026:{}", state.config.instance_name)
    } else {
        base.clone()
    };
    let items = advisories(&state).await?;
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap_or_default();
    // The newest advisory's time; with none published yet, the time the feed is made, as
    // RFC 4287 allows (rather than the Unix epoch, which no reader takes for a real time).
    let updated = items
        .first()
        .map(|a| parse(&a.created))
        .unwrap_or_else(|| chrono::Utc::now().fixed_offset());
    let entries = items
        .iter()
        .map(|a| {
            EntryBuilder::default()
                .id(format!("{id_base}/public/advisories#advisory-{}", a.id))
                .title(Text::plain(a.title.clone()))
                .updated(parse(&a.created))
                .published(Some(parse(&a.created)))
                .authors(vec![
                    PersonBuilder::default().name(a.sender.clone()).build(),
                ])
                .links(vec![
                    LinkBuilder::default()
                        .href(format!("{base}/public/advisories#advisory-{}", a.id))
                        .build(),
                ])
                .content(Some(
                    ContentBuilder::default()
                        .content_type(Some("html".to_owned()))
                        .value(Some(a.body_html.clone()))
                        .build(),
                ))
                .build()
        })
        .collect::<Vec<_>>();
    let feed = FeedBuilder::default()
        .id(format!("{id_base}/public/advisories"))
        .title(Text::plain("ciphub public advisories (TLP:CLEAR)"))
        .updated(updated)
        .links(vec![
            LinkBuilder::default()
                .href(format!("{base}/public/advisories.atom"))
                .rel("self")
                .build(),
            LinkBuilder::default()
                .href(format!("{base}/public/advisories"))
                .build(),
        ])
        .entries(entries)
        .build();
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        feed.to_string(),
    ))
}
