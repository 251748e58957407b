//! The JSON body extractor: checks the media type and the size limit, and turns every parse
//! error into a 4xx that names the field (`roles[1]`, `expires_in`) and the line and column.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// A JSON request body of type `T`.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v == "application/json" || v.ends_with("+json")
            });
        if !is_json {
            return Err(AppError::BadRequest {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "unsupported_media_type",
                message: "the body must be JSON, sent with Content-Type: application/json".into(),
                field: None,
            });
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::BadRequest {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    code: "body_too_large",
                    message: "the request body is larger than this server accepts".into(),
                    field: None,
                }
            } else {
                AppError::malformed("unreadable_body", rej.body_text(), None)
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

/// Parses `bytes` as `T`, naming the path of the first problem.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner();
        let code = if inner.is_syntax() || inner.is_eof() {
            "malformed_json"
        } else {
            "invalid_json"
        };
        let field = (path != ".").then_some(path);
        AppError::malformed(code, inner.to_string(), field)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        roles: Vec<String>,
    }

    fn field_of(r: Result<Body, AppError>) -> Option<String> {
        match r {
            Err(AppError::BadRequest { field, .. }) => field,
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            field_of(parse(br#"{"name":"a","roles":[1]}"#)).as_deref(),
            Some("roles[0]")
        );
        assert_eq!(
            field_of(parse(br#"{"name":"a","roles":[],"x":1}"#)).as_deref(),
            Some("x")
        );
        assert!(matches!(
            parse::<Body>(br#"{"name":"#),
            Err(AppError::BadRequest {
                code: "malformed_json",
                ..
            })
        ));
    }
}
