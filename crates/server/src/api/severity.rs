//! `/api/v1/severity`: the shipped severity schemas, and assessing answers against one.

use axum::Json;
use axum::extract::State;
use ciphub_domain::severity::{
    Answers, Assessment, DEFAULT_SCHEMA, SHIPPED_SCHEMAS, Schema, shipped_schema,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Authed;
use crate::error::AppError;
use crate::json::ApiJson;
use crate::path::ApiPath;

/// A request to assess answers.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessJson {
    /// The schema's id (default seed-draft).
    #[serde(default)]
    #[schema(schema_with = crate::openapi::severity_schema_or_null)]
    pub schema: Option<String>,
    /// Question id to option id, one for every question of the schema.
    #[schema(value_type = BTreeMap<String, String>)]
    pub answers: Answers,
}

/// One answer's part in the level.
#[derive(Serialize, ToSchema)]
pub struct ReasonJson {
    pub question: String,
    pub option: String,
    pub label_en: String,
    /// The level the answer names, or its weighted share of the score.
    pub contribution: f64,
}

/// The level a set of answers comes to.
#[derive(Serialize, ToSchema)]
pub struct AssessmentJson {
    pub schema: String,
    pub level: u8,
    pub name_en: String,
    pub name_ja: Option<String>,
    pub colour: String,
    /// Whether the level is handled as an emergency (24/365).
    pub emergency: bool,
    /// The weighted mean 0 to 100, for scoring schemas.
    pub score: Option<f64>,
    /// The answers that set the level, most decisive first.
    pub rationale: Vec<ReasonJson>,
}

impl From<Assessment> for AssessmentJson {
    fn from(a: Assessment) -> Self {
        Self {
            schema: a.schema,
            level: a.level,
            name_en: a.name_en,
            name_ja: a.name_ja,
            colour: a.colour,
            emergency: a.emergency,
            score: a.score,
            rationale: a
                .rationale
                .into_iter()
                .map(|r| ReasonJson {
                    question: r.question,
                    option: r.option,
                    label_en: r.label_en,
                    contribution: r.contribution,
                })
                .collect(),
        }
    }
}

/// Finds a shipped schema, naming the field on failure.
pub fn schema_for(field: &str, id: Option<&str>) -> Result<Schema, AppError> {
    shipped_schema(id.unwrap_or(DEFAULT_SCHEMA))
        .map_err(|e| AppError::invalid(field, e.to_string()))
}

/// Assesses answers with `schema`, naming the answer at fault (`answers.safety`).
pub fn assess_answers(schema: &Schema, answers: &Answers) -> Result<Assessment, AppError> {
    schema.assess(answers).map_err(|e| {
        let field = e
            .question()
            .map_or_else(|| "answers".to_owned(), |q| format!("answers.{q}"));
        AppError::invalid(field, e.to_string())
    })
}

/// Lists the shipped severity schemas with their levels and questions.
#[utoipa::path(get, path = "/api/v1/severity/schemas", tag = "severity",
    responses((status = 200, description = "The schemas, as data", body = [Object])))]
pub async fn list_schemas(_authed: Authed) -> Result<Json<Vec<Schema>>, AppError> {
    let schemas = SHIPPED_SCHEMAS
        .iter()
        .map(|(id, _)| schema_for("schema", Some(id)))
        .collect::<Result<_, _>>()?;
    Ok(Json(schemas))
}

/// One severity schema.
#[utoipa::path(get, path = "/api/v1/severity/schemas/{id}", tag = "severity",
    params(("id" = String, Path, description = "seed-draft, nisc-2018 or us-nciss")),
    responses((status = 200, description = "The schema, as data", body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_schema(
    _authed: Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Schema>, AppError> {
    shipped_schema(&id)
        .map(Json)
        .map_err(|e| AppError::NotFound(e.to_string()))
}

/// Assesses answers: the level, its name and colour, the score where the schema has one, and
/// the answers that set the level.
#[utoipa::path(post, path = "/api/v1/severity/assess", tag = "severity", request_body = AssessJson,
    responses((status = 200, body = AssessmentJson), (status = 422, body = crate::error::ErrorBody)))]
pub async fn assess(
    State(_state): State<AppState>,
    _authed: Authed,
    ApiJson(body): ApiJson<AssessJson>,
) -> Result<Json<AssessmentJson>, AppError> {
    let schema = schema_for("schema", body.schema.as_deref())?;
    let assessment = assess_answers(&schema, &body.answers)?;
    Ok(Json(assessment.into()))
}
