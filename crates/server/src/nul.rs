//! NUL (U+0000) in a request's path or query. No text of ours holds one and PostgreSQL stores
//! none (a search for one fails there), so such a request is refused before any handler runs,
//! alike on both stores, in the format of the part of the site it was sent to: a TAXII error
//! resource, the API's JSON error naming the parameter, or a page in the browser's language.
//! (JSON bodies are checked by `json::parse`, forms by `web::FormData`.)

use axum::extract::Request;
use axum::http::{StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;

/// Where a NUL was found.
#[derive(Debug, PartialEq)]
enum Found {
    Path,
    /// The query parameter's name, as sent.
    Query(String),
}

/// Refuses a request with a NUL in its path or query.
pub async fn refuse(req: Request, next: Next) -> Response {
    let Some(found) = nul_in(req.uri()) else {
        return next.run(req).await;
    };
    let path = req.uri().path();
    // 422 as for a JSON body holding one (`json::parse`): the request is well formed, the text
    // is not one any field may hold.
    let error = match &found {
        Found::Path => AppError::BadRequest {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_value",
            message: "the path must not contain the NUL character (%00)".into(),
            field: None,
        },
        Found::Query(name) => AppError::invalid(
            name.clone(),
            format!("the query parameter `{name}` must not contain the NUL character (%00)"),
        ),
    };
    if path.starts_with("/taxii2/") {
        crate::taxii::TaxiiError::from(error).into_response()
    } else if ["/api/", "/misp/", "/public/", "/healthz"]
        .iter()
        .any(|p| path.starts_with(p))
    {
        error.into_response()
    } else {
        crate::web::bad_text_page(req.headers())
    }
}

fn nul_in(uri: &Uri) -> Option<Found> {
    // A URI holds no raw NUL byte; only its percent-encoding.
    if uri.path().contains("%00") {
        return Some(Found::Path);
    }
    let query = uri.query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        .map(|(k, _)| Found::Query(k.replace('\0', "%00")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(uri: &str) -> Option<Found> {
        nul_in(&uri.parse().unwrap())
    }

    #[test]
    fn finds_the_nul_and_names_its_parameter() {
        assert_eq!(at("/api/v1/organizations?q=abc"), None);
        assert_eq!(
            at("/api/v1/organizations?q=%C3%A0%00m"),
            Some(Found::Query("q".into()))
        );
        assert_eq!(
            at("/api/v1/organizations?kind=x&q=a%00"),
            Some(Found::Query("q".into()))
        );
        assert_eq!(at("/reports?a%00b=1"), Some(Found::Query("a%00b".into())));
        assert_eq!(
            at("/api/v1/organizations/a%00b/contacts"),
            Some(Found::Path)
        );
        // An encoded percent sign followed by zeros is text, not a NUL.
        assert_eq!(at("/reports?q=%2500"), None);
    }
}
