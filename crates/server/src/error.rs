//! Errors as the API answers them.
//!
//! Policy: a 4xx says what is wrong and where (the field, the parameter), in words safe to show
//! the caller; a 5xx is logged with its cause and answered with a generic message, so nothing
//! internal (SQL, paths, other organizations' data) leaves through an error.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ciphub_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// An error the API returns.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed or a value is invalid; `field` names where, when known.
    #[error("{message}")]
    BadRequest {
        status: StatusCode,
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    #[error("authentication required: {0}")]
    Unauthenticated(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("too many requests: {0}")]
    TooMany(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorJson,
}

/// What went wrong.
#[derive(Serialize, ToSchema)]
pub struct ErrorJson {
    /// A stable, machine-readable code.
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
    /// The field or parameter at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl AppError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest { status, .. } => *status,
            AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A 422 naming the field whose value is not acceptable.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::BadRequest {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_value",
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// A 400 for a malformed request.
    pub fn malformed(
        code: &'static str,
        message: impl Into<String>,
        field: Option<String>,
    ) -> Self {
        AppError::BadRequest {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
            field,
        }
    }

    /// Maps a store error whose not-found and conflicts concern the request's `field`.
    pub fn from_store_for(field: &str, e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } | StoreError::Registry(_) | StoreError::User(_) => {
                AppError::invalid(field, e.to_string())
            }
            other => other.into(),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => AppError::NotFound(e.to_string()),
            StoreError::Invalid { field, message } => AppError::invalid(field, message),
            StoreError::Conflict { .. } => AppError::Conflict(e.to_string()),
            StoreError::Registry(_) | StoreError::User(_) => AppError::BadRequest {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "invalid_value",
                message: e.to_string(),
                field: None,
            },
            other => AppError::Internal(format!("{other:?}")),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code, message, field) = match self {
            AppError::BadRequest {
                status,
                code,
                message,
                field,
            } => (status, code, message, field),
            AppError::Unauthenticated(why) => {
                let mut resp = (
                    StatusCode::UNAUTHORIZED,
                    Json(ErrorBody {
                        error: ErrorJson {
                            code: "unauthenticated",
                            message: why.to_owned(),
                            field: None,
                        },
                    }),
                )
                    .into_response();
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"ciphub\""),
                );
                return resp;
            }
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m, None),
            AppError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m, None),
            AppError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m, None),
            AppError::TooMany(m) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests", m, None),
            AppError::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the server could not complete the request; it has been logged".to_owned(),
                    None,
                )
            }
        };
        (
            status,
            Json(ErrorBody {
                error: ErrorJson {
                    code,
                    message,
                    field,
                },
            }),
        )
            .into_response()
    }
}

impl From<ciphub_domain::policy::Denied> for AppError {
    fn from(d: ciphub_domain::policy::Denied) -> Self {
        AppError::Forbidden(d.0.to_owned())
    }
}
