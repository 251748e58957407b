//! Prometheus metrics: a recorder installed once per process, and a middleware that counts and
//! times every request by its route pattern (never by its concrete path, which may carry ids).

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The process's metrics handle; `None` if another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| PrometheusBuilder::new().install_recorder().ok())
        .as_ref()
}

/// Middleware: counts and times requests.
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("ciphub_http_requests_total", &labels).increment(1);
    metrics::histogram!("ciphub_http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    resp
}

/// Serves the Prometheus text format; needs the admin role.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 403, body = crate::error::ErrorBody)))]
pub async fn get_metrics(
    authed: crate::auth::Authed,
) -> Result<impl axum::response::IntoResponse, crate::error::AppError> {
    ciphub_domain::policy::check(&authed.actor(), ciphub_domain::policy::Action::ReadMetrics)?;
    let body = handle().map(PrometheusHandle::render).unwrap_or_default();
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    ))
}
