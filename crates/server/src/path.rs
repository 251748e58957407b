//! The path-parameter extractor of the API: a parameter that does not parse (`/reports/abc`)
//! is answered with the API's JSON error, naming the parameter and what it must be, instead of
//! axum's plain-text rejection.

use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path, RawPathParams};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// The longest part of a refused value echoed back in the message.
const ECHO_CHARS: usize = 40;

/// Path parameters of type `T`, as `axum::extract::Path` gives them.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => {
                // The raw parameters give the names that tuple and single-value targets lack.
                let names: Vec<String> = RawPathParams::from_request_parts(parts, state)
                    .await
                    .map(|raw| raw.iter().map(|(k, _)| k.to_owned()).collect())
                    .unwrap_or_default();
                Err(refusal(rejection, &names))
            }
        }
    }
}

/// The answer to a path that does not fit its parameters' types.
fn refusal(rejection: PathRejection, names: &[String]) -> AppError {
    let PathRejection::FailedToDeserializePathParams(failed) = rejection else {
        // Missing parameters mean the route and the handler disagree: a bug, not the caller's.
        return AppError::Internal(format!("path parameters: {rejection}"));
    };
    let (name, value, expected) = match failed.into_kind() {
        ErrorKind::ParseErrorAtKey {
            key,
            value,
            expected_type,
        } => (Some(key), value, expected_type),
        ErrorKind::ParseErrorAtIndex {
            index,
            value,
            expected_type,
        } => (names.get(index).cloned(), value, expected_type),
        ErrorKind::ParseError {
            value,
            expected_type,
        } => (names.first().cloned(), value, expected_type),
        ErrorKind::InvalidUtf8InPathParam { key } => {
            return AppError::malformed(
                "invalid_path",
                format!("the path parameter `{key}` is not valid UTF-8 once decoded"),
                Some(key),
            );
        }
        ErrorKind::DeserializeError {
            key,
            value,
            message,
        } => {
            return AppError::malformed(
                "invalid_path",
                format!(
                    "the path parameter `{key}` cannot be `{}`: {message}",
                    echo(&value)
                ),
                Some(key),
            );
        }
        other => return AppError::Internal(format!("path parameters: {other}")),
    };
    let name = name.unwrap_or_else(|| "path".to_owned());
    AppError::malformed(
        "invalid_path",
        format!(
            "the path parameter `{name}` must be {}, not `{}`",
            describe(expected),
            echo(&value)
        ),
        Some(name),
    )
}

/// A type as people name it.
fn describe(rust_type: &str) -> &'static str {
    match rust_type {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, not negative",
        "bool" => "true or false",
        _ => "a value of the right kind",
    }
}

/// The start of a refused value, so a long one does not fill the answer.
fn echo(value: &str) -> String {
    let mut shown: String = value.chars().take(ECHO_CHARS).collect();
    if shown.len() < value.len() {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tower::ServiceExt;

    async fn answer(uri: &str) -> (StatusCode, serde_json::Value) {
        let app = Router::new()
            .route(
                "/one/{id}",
                get(|ApiPath(id): ApiPath<i64>| async move { id.to_string() }),
            )
            .route(
                "/two/{id}/calls/{call}",
                get(|ApiPath((a, b)): ApiPath<(i64, i64)>| async move { format!("{a} {b}") }),
            );
        let resp = app
            .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
            .await
            .expect("answer");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test]
    async fn a_parameter_that_does_not_parse_is_named() {
        let (status, body) = answer("/one/abc").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "invalid_path");
        assert_eq!(body["error"]["field"], "id");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(
            message.contains("whole number") && message.contains("abc"),
            "{message}"
        );

        let (status, body) = answer("/two/7/calls/x1").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["field"], "call");
    }

    #[tokio::test]
    async fn long_values_are_cut_short() {
        let long = "z".repeat(500);
        let (_, body) = answer(&format!("/one/{long}")).await;
        let message = body["error"]["message"].as_str().expect("message");
        assert!(message.len() < 200, "{message}");
    }
}
