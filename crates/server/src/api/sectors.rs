//! `/api/v1/sectors`: sectors with their services and responsible ministries.

use axum::Json;
use axum::extract::State;
use ciphub_domain::policy::{self, Action};
use ciphub_store::SectorRecord;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::api::organizations::OrgRefJson;
use crate::auth::Authed;
use crate::error::AppError;

/// A service of a sector.
#[derive(Serialize, ToSchema)]
pub struct ServiceJson {
    pub slug: String,
    pub name_en: String,
    pub name_ja: Option<String>,
}

/// A sector.
#[derive(Serialize, ToSchema)]
pub struct SectorJson {
    pub slug: String,
    pub name_en: String,
    pub name_ja: Option<String>,
    pub services: Vec<ServiceJson>,
    /// The ministries responsible for the sector.
    pub responsible: Vec<OrgRefJson>,
}

impl From<SectorRecord> for SectorJson {
    fn from(r: SectorRecord) -> Self {
        Self {
            slug: r.sector.slug.to_string(),
            name_en: r.sector.name_en,
            name_ja: r.sector.name_ja,
            services: r
                .sector
                .services
                .into_iter()
                .map(|s| ServiceJson {
                    slug: s.slug.to_string(),
                    name_en: s.name_en,
                    name_ja: s.name_ja,
                })
                .collect(),
            responsible: r.responsible.iter().map(OrgRefJson::from).collect(),
        }
    }
}

/// Lists every sector in profile order.
#[utoipa::path(get, path = "/api/v1/sectors", tag = "registry",
    responses((status = 200, body = [SectorJson]), (status = 401, body = crate::error::ErrorBody)))]
pub async fn list_sectors(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Json<Vec<SectorJson>>, AppError> {
    policy::check(&authed.actor(), Action::ReadRegistry)?;
    let sectors = state.store.list_sectors().await?;
    Ok(Json(sectors.into_iter().map(SectorJson::from).collect()))
}
