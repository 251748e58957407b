//! Sectors, services and organizations: loading profiles, adding organizations, reading the registry.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ciphub_domain::Slug;
use ciphub_domain::registry::{OrgKind, Organization, Profile, RegistryView, Sector, Service};
use serde_json::json;

use crate::error::conflict_on_unique;
use crate::write::WriteTx;
use crate::{By, Store, StoreError};

/// What loading a profile changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileReport {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// A sector with its services and the ministries responsible for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectorRecord {
    pub sector: Sector,
    pub responsible: Vec<OrgRecord>,
}

/// An organization as stored, with its links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgRecord {
    pub id: i64,
    pub org: Organization,
}

/// An organization with the organizations that are its members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgDetail {
    pub record: OrgRecord,
    pub members: Vec<OrgRecord>,
}

/// The order of a page of organizations (within each kind).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OrgOrder {
    #[default]
    Id,
    NameEn,
    /// The Japanese name, or the English one where there is none.
    NameJa,
}

/// Which organizations to list.
#[derive(Clone, Debug, Default)]
pub struct OrgFilter {
    pub kind: Option<OrgKind>,
    pub sector: Option<Slug>,
}

#[derive(sqlx::FromRow)]
struct SectorRow {
    slug: String,
    name_en: String,
    name_ja: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ServiceRow {
    slug: String,
    sector: String,
    name_en: String,
    name_ja: Option<String>,
}

#[derive(sqlx::FromRow)]
struct OrgRow {
    id: i64,
    slug: String,
    kind: String,
    name_en: String,
    name_ja: Option<String>,
    abbrev: Option<String>,
    members_published: Option<String>,
    members_count: Option<i64>,
}

/// Links of every organization, by organization id.
#[derive(Default)]
struct Links {
    sectors: BTreeMap<i64, Vec<Slug>>,
    services: BTreeMap<i64, Vec<Slug>>,
    responsible_for: BTreeMap<i64, Vec<Slug>>,
    member_of: BTreeMap<i64, Vec<Slug>>,
}

fn slug(s: String) -> Result<Slug, StoreError> {
    Slug::parse(&s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl OrgRow {
    fn into_record(self, links: &mut Links) -> Result<OrgRecord, StoreError> {
        let kind = self
            .kind
            .parse()
            .map_err(|e: ciphub_domain::registry::UnknownOrgKind| {
                StoreError::Corrupt(e.to_string())
            })?;
        let take = |m: &mut BTreeMap<i64, Vec<Slug>>| m.remove(&self.id).unwrap_or_default();
        Ok(OrgRecord {
            id: self.id,
            org: Organization {
                slug: slug(self.slug)?,
                kind,
                name_en: self.name_en,
                name_ja: self.name_ja,
                abbrev: self.abbrev,
                sectors: take(&mut links.sectors),
                services: take(&mut links.services),
                responsible_for: take(&mut links.responsible_for),
                member_of: take(&mut links.member_of),
                members_published: self.members_published,
                members_count: self.members_count.and_then(|n| u32::try_from(n).ok()),
            },
        })
    }
}

const ORG_COLUMNS: &str =
    "o.id, o.slug, o.kind, o.name_en, o.name_ja, o.abbrev, o.members_published, o.members_count";

impl Store {
    /// Loads a jurisdiction profile: adds what is missing, updates what differs, and leaves the
    /// rest alone, so loading it twice changes nothing.
    pub async fn apply_profile(
        &self,
        profile: &Profile,
        by: &By,
    ) -> Result<ProfileReport, StoreError> {
        profile.check()?;
        let mut w = self.begin_write(by).await?;
        let mut report = ProfileReport::default();

        let sectors: BTreeMap<String, (String, Option<String>, i64, String)> =
            sqlx::query_as::<_, (String, String, Option<String>, i64, String)>(
                "SELECT slug, name_en, name_ja, position, profile FROM sectors",
            )
            .fetch_all(&mut *w.tx)
            .await?
            .into_iter()
            .map(|(s, en, ja, pos, p)| (s, (en, ja, pos, p)))
            .collect();
        let services: BTreeMap<String, (String, String, Option<String>, i64)> =
            sqlx::query_as::<_, (String, String, String, Option<String>, i64)>(
                "SELECT slug, sector, name_en, name_ja, position FROM services",
            )
            .fetch_all(&mut *w.tx)
            .await?
            .into_iter()
            .map(|(s, sec, en, ja, pos)| (s, (sec, en, ja, pos)))
            .collect();

        for (pos, sector) in profile.sectors.iter().enumerate() {
            let want = (
                sector.name_en.clone(),
                sector.name_ja.clone(),
                pos as i64,
                profile.id.to_string(),
            );
            let sql = match sectors.get(sector.slug.as_str()) {
                Some(have) if *have == want => {
                    report.unchanged += 1;
                    None
                }
                Some(_) => Some((
                    "UPDATE sectors SET name_en = $2, name_ja = $3, position = $4, profile = $5 WHERE slug = $1",
                    "sector.update",
                )),
                None => Some((
                    "INSERT INTO sectors (slug, name_en, name_ja, position, profile) VALUES ($1, $2, $3, $4, $5)",
                    "sector.create",
                )),
            };
            if let Some((sql, action)) = sql {
                sqlx::query(sql)
                    .bind(sector.slug.as_str())
                    .bind(&want.0)
                    .bind(&want.1)
                    .bind(want.2)
                    .bind(&want.3)
                    .execute(&mut *w.tx)
                    .await?;
                count(&mut report, action);
                w.audit(
                    action,
                    "sector",
                    sector.slug.as_str(),
                    json!({"name_en": sector.name_en, "profile": profile.id}),
                )
                .await?;
            }
            for (spos, service) in sector.services.iter().enumerate() {
                let want = (
                    sector.slug.to_string(),
                    service.name_en.clone(),
                    service.name_ja.clone(),
                    spos as i64,
                );
                let sql = match services.get(service.slug.as_str()) {
                    Some(have) if *have == want => {
                        report.unchanged += 1;
                        None
                    }
                    Some(_) => Some((
                        "UPDATE services SET sector = $2, name_en = $3, name_ja = $4, position = $5 WHERE slug = $1",
                        "service.update",
                    )),
                    None => Some((
                        "INSERT INTO services (slug, sector, name_en, name_ja, position) VALUES ($1, $2, $3, $4, $5)",
                        "service.create",
                    )),
                };
                if let Some((sql, action)) = sql {
                    sqlx::query(sql)
                        .bind(service.slug.as_str())
                        .bind(&want.0)
                        .bind(&want.1)
                        .bind(&want.2)
                        .bind(want.3)
                        .execute(&mut *w.tx)
                        .await?;
                    count(&mut report, action);
                    w.audit(
                        action,
                        "service",
                        service.slug.as_str(),
                        json!({"sector": sector.slug, "name_en": service.name_en}),
                    )
                    .await?;
                }
            }
        }

        // Organizations first, then their links, since links may point at organizations
        // declared later in the file.
        let mut existing = load_orgs(&mut w, None).await?;
        let mut ids: BTreeMap<Slug, i64> =
            existing.iter().map(|(s, r)| (s.clone(), r.id)).collect();
        let mut changed_links = Vec::new();
        for org in &profile.organizations {
            match existing.remove(&org.slug) {
                Some(have) => {
                    let fields_differ = !same_fields(&have.org, org);
                    let links_differ = !same_links(&have.org, org);
                    if fields_differ {
                        sqlx::query(
                            "UPDATE organizations SET kind = $2, name_en = $3, name_ja = $4, abbrev = $5, \
                             members_published = $6, members_count = $7 WHERE id = $1",
                        )
                        .bind(have.id)
                        .bind(org.kind.as_str())
                        .bind(&org.name_en)
                        .bind(&org.name_ja)
                        .bind(&org.abbrev)
                        .bind(&org.members_published)
                        .bind(org.members_count.map(i64::from))
                        .execute(&mut *w.tx)
                        .await?;
                        if have.org.kind != org.kind {
                            // Its users' permissions follow the organization's kind.
                            w.emit(crate::Event::Credentials);
                        }
                    }
                    if links_differ {
                        changed_links.push((have.id, org));
                    }
                    if fields_differ || links_differ {
                        report.updated += 1;
                        w.audit(
                            "organization.update",
                            "organization",
                            org.slug.as_str(),
                            org_detail(org),
                        )
                        .await?;
                    } else {
                        report.unchanged += 1;
                    }
                }
                None => {
                    let id = insert_org(&mut w, org).await?;
                    ids.insert(org.slug.clone(), id);
                    changed_links.push((id, org));
                    report.added += 1;
                    w.audit(
                        "organization.create",
                        "organization",
                        org.slug.as_str(),
                        org_detail(org),
                    )
                    .await?;
                }
            }
        }
        for (id, org) in changed_links {
            for table in ["org_sectors", "org_services", "responsibilities"] {
                let sql = format!("DELETE FROM {table} WHERE org_id = $1");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .execute(&mut *w.tx)
                    .await?;
            }
            sqlx::query("DELETE FROM memberships WHERE member_id = $1")
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
            insert_links(&mut w, id, org, &ids).await?;
        }
        w.commit().await?;
        Ok(report)
    }

    /// Adds organizations, checking each against the registry as it stands.
    pub async fn add_organizations(
        &self,
        orgs: &[Organization],
        by: &By,
    ) -> Result<Vec<OrgRecord>, StoreError> {
        let mut w = self.begin_write(by).await?;
        let sectors: Vec<String> = sqlx::query_scalar("SELECT slug FROM sectors")
            .fetch_all(&mut *w.tx)
            .await?;
        let services: Vec<(String, String)> = sqlx::query_as("SELECT slug, sector FROM services")
            .fetch_all(&mut *w.tx)
            .await?;
        let existing: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT slug, kind, id FROM organizations")
                .fetch_all(&mut *w.tx)
                .await?;
        let sectors: Vec<Slug> = sectors.into_iter().map(slug).collect::<Result<_, _>>()?;
        let services: Vec<(Slug, Slug)> = services
            .into_iter()
            .map(|(a, b)| Ok((slug(a)?, slug(b)?)))
            .collect::<Result<_, StoreError>>()?;
        let mut kinds_owned: BTreeMap<Slug, OrgKind> = BTreeMap::new();
        let mut ids: BTreeMap<Slug, i64> = BTreeMap::new();
        for (s, k, id) in existing {
            let s = slug(s)?;
            let k = k
                .parse()
                .map_err(|e: ciphub_domain::registry::UnknownOrgKind| {
                    StoreError::Corrupt(e.to_string())
                })?;
            kinds_owned.insert(s.clone(), k);
            ids.insert(s, id);
        }
        for org in orgs {
            if kinds_owned.insert(org.slug.clone(), org.kind).is_some() {
                return Err(StoreError::Conflict {
                    what: "organization",
                    key: org.slug.to_string(),
                });
            }
        }
        {
            let sector_set: BTreeSet<&Slug> = sectors.iter().collect();
            let service_map: BTreeMap<&Slug, &Slug> =
                services.iter().map(|(a, b)| (a, b)).collect();
            let kinds: BTreeMap<&Slug, OrgKind> =
                kinds_owned.iter().map(|(s, k)| (s, *k)).collect();
            let view = RegistryView {
                sectors: &sector_set,
                sector_of_service: &service_map,
                kinds: &kinds,
            };
            for org in orgs {
                view.check_organization(org)?;
            }
        }
        let mut out = Vec::with_capacity(orgs.len());
        for org in orgs {
            let id = insert_org(&mut w, org).await?;
            ids.insert(org.slug.clone(), id);
            out.push(OrgRecord {
                id,
                org: org.clone(),
            });
        }
        for rec in &out {
            insert_links(&mut w, rec.id, &rec.org, &ids).await?;
            w.audit(
                "organization.create",
                "organization",
                rec.org.slug.as_str(),
                org_detail(&rec.org),
            )
            .await?;
        }
        w.commit().await?;
        Ok(out)
    }

    /// Every sector, in profile order, with services and responsible ministries.
    pub async fn list_sectors(&self) -> Result<Vec<SectorRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let sectors: Vec<SectorRow> =
            sqlx::query_as("SELECT slug, name_en, name_ja FROM sectors ORDER BY position, slug")
                .fetch_all(&mut *conn)
                .await?;
        let services: Vec<ServiceRow> = sqlx::query_as(
            "SELECT slug, sector, name_en, name_ja FROM services ORDER BY position, slug",
        )
        .fetch_all(&mut *conn)
        .await?;
        let responsible: Vec<(String, i64)> =
            sqlx::query_as("SELECT sector, org_id FROM responsibilities ORDER BY org_id")
                .fetch_all(&mut *conn)
                .await?;
        drop(conn);
        let ministries = self
            .list_organizations(&OrgFilter {
                kind: Some(OrgKind::Ministry),
                sector: None,
            })
            .await?;
        let mut out = Vec::with_capacity(sectors.len());
        for s in sectors {
            let services = services
                .iter()
                .filter(|v| v.sector == s.slug)
                .map(|v| {
                    Ok(Service {
                        slug: slug(v.slug.clone())?,
                        name_en: v.name_en.clone(),
                        name_ja: v.name_ja.clone(),
                    })
                })
                .collect::<Result<_, StoreError>>()?;
            let resp = responsible
                .iter()
                .filter(|(sector, _)| *sector == s.slug)
                .filter_map(|(_, id)| ministries.iter().find(|m| m.id == *id).cloned())
                .collect();
            out.push(SectorRecord {
                sector: Sector {
                    slug: slug(s.slug)?,
                    name_en: s.name_en,
                    name_ja: s.name_ja,
                    services,
                },
                responsible: resp,
            });
        }
        Ok(out)
    }

    /// Organizations matching `filter`, by kind then slug.
    pub async fn list_organizations(
        &self,
        filter: &OrgFilter,
    ) -> Result<Vec<OrgRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<OrgRow> = match (&filter.kind, &filter.sector) {
            (kind, Some(sector)) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {ORG_COLUMNS} FROM organizations o JOIN org_sectors s ON s.org_id = o.id \
                     WHERE s.sector = $1 AND ($2 IS NULL OR o.kind = $2) ORDER BY o.kind, o.slug"
                )))
                .bind(sector.as_str())
                .bind(kind.map(|k| k.as_str()))
                .fetch_all(&mut *conn)
                .await?
            }
            (Some(kind), None) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {ORG_COLUMNS} FROM organizations o WHERE o.kind = $1 ORDER BY o.kind, o.slug"
                )))
                .bind(kind.as_str())
                .fetch_all(&mut *conn)
                .await?
            }
            (None, None) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {ORG_COLUMNS} FROM organizations o ORDER BY o.kind, o.slug"
                )))
                .fetch_all(&mut *conn)
                .await?
            }
        };
        // A short list loads only its own links; a long one reads them all in one pass.
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let only = (ids.len() <= 200).then_some(ids.as_slice());
        let mut links = load_links(&mut conn, only).await?;
        rows.into_iter()
            .map(|r| r.into_record(&mut links))
            .collect()
    }

    /// One page of the organizations matching `filter` and, when given, containing `text` in
    /// their id, English or Japanese name or abbreviation (any case), by kind then `order`; with how
    /// many match in all. Its cost does not grow with the registry.
    pub async fn organizations_page(
        &self,
        filter: &OrgFilter,
        text: Option<&str>,
        (order, desc): (OrgOrder, bool),
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<OrgRecord>, u64), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let pattern = like_pattern(text.unwrap_or(""));
        // $1 kind, $2 sector, $3 pattern.
        let matching = "FROM organizations o WHERE ($1 = '' OR o.kind = $1) \
             AND ($2 = '' OR EXISTS (SELECT 1 FROM org_sectors s WHERE s.org_id = o.id AND s.sector = $2)) \
             AND ($3 = '' OR lower(o.slug) LIKE $3 ESCAPE '\\' OR lower(o.name_en) LIKE $3 ESCAPE '\\' \
                  OR o.name_ja LIKE $3 ESCAPE '\\' OR lower(coalesce(o.abbrev, '')) LIKE $3 ESCAPE '\\')";
        let kind = filter.kind.map_or("", |k| k.as_str());
        let sector = filter.sector.as_ref().map_or("", Slug::as_str);
        let (total,): (i64,) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT count(*) {matching}")))
                .bind(kind)
                .bind(sector)
                .bind(&pattern)
                .fetch_one(&mut *conn)
                .await?;
        let rows: Vec<OrgRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ORG_COLUMNS} {matching} ORDER BY o.kind, {} {dir}, o.slug LIMIT $4 OFFSET $5",
            match order {
                OrgOrder::Id => "o.slug",
                OrgOrder::NameEn => "o.name_en",
                OrgOrder::NameJa => "coalesce(o.name_ja, o.name_en)",
            },
            dir = if desc { "DESC" } else { "ASC" },
        )))
        .bind(kind)
        .bind(sector)
        .bind(&pattern)
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&mut *conn)
        .await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut links = load_links(&mut conn, Some(&ids)).await?;
        let orgs = rows
            .into_iter()
            .map(|r| r.into_record(&mut links))
            .collect::<Result<_, _>>()?;
        Ok((orgs, u64::try_from(total).unwrap_or(0)))
    }

    /// Every sector's English name, by slug.
    pub async fn sector_names(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT slug, name_en FROM sectors")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// An organization's English name.
    pub async fn organization_name(&self, slug_: &Slug) -> Result<String, StoreError> {
        let name: Option<String> =
            sqlx::query_scalar("SELECT name_en FROM organizations WHERE slug = $1")
                .bind(slug_.as_str())
                .fetch_optional(&self.pool)
                .await?;
        name.ok_or_else(|| StoreError::not_found("organization", slug_))
    }

    /// The English and Japanese names of the organizations among `slugs` (others are left out),
    /// for pages that show names rather than ids. Names are not secret: the registry shows
    /// them to every signed-in user.
    pub async fn organization_names(
        &self,
        slugs: &[&str],
    ) -> Result<HashMap<String, (String, Option<String>)>, StoreError> {
        let mut wanted: Vec<&str> = slugs.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let mut out = HashMap::with_capacity(wanted.len());
        for chunk in wanted.chunks(500) {
            let sql = format!(
                "SELECT slug, name_en, name_ja FROM organizations WHERE slug IN ({})",
                self.marks(1, chunk.len())
            );
            let mut q =
                sqlx::query_as::<_, (String, String, Option<String>)>(sqlx::AssertSqlSafe(sql));
            for s in chunk {
                q = q.bind(*s);
            }
            for (slug, en, ja) in q.fetch_all(&self.pool).await? {
                out.insert(slug, (en, ja));
            }
        }
        Ok(out)
    }

    /// An organization's English name and when it was registered: what its STIX identity
    /// says, the same in every bundle.
    pub async fn organization_identity(&self, slug_: &Slug) -> Result<(String, i64), StoreError> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT name_en, created_us FROM organizations WHERE slug = $1")
                .bind(slug_.as_str())
                .fetch_optional(&self.pool)
                .await?;
        row.ok_or_else(|| StoreError::not_found("organization", slug_))
    }

    /// One organization with its members.
    pub async fn get_organization(&self, slug_: &Slug) -> Result<OrgDetail, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let row: Option<OrgRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ORG_COLUMNS} FROM organizations o WHERE o.slug = $1"
        )))
        .bind(slug_.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        let row = row.ok_or_else(|| StoreError::not_found("organization", slug_))?;
        let members: Vec<OrgRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ORG_COLUMNS} FROM organizations o JOIN memberships m ON m.member_id = o.id \
             WHERE m.group_id = $1 ORDER BY o.kind, o.slug"
        )))
        .bind(row.id)
        .fetch_all(&mut *conn)
        .await?;
        let ids: Vec<i64> = std::iter::once(row.id)
            .chain(members.iter().map(|m| m.id))
            .collect();
        let mut links = load_links(&mut conn, Some(&ids)).await?;
        let record = row.into_record(&mut links)?;
        let members = members
            .into_iter()
            .map(|r| r.into_record(&mut links))
            .collect::<Result<_, _>>()?;
        Ok(OrgDetail { record, members })
    }
}

fn count(report: &mut ProfileReport, action: &str) {
    if action.ends_with(".create") {
        report.added += 1;
    } else {
        report.updated += 1;
    }
}

fn same_fields(a: &Organization, b: &Organization) -> bool {
    a.kind == b.kind
        && a.name_en == b.name_en
        && a.name_ja == b.name_ja
        && a.abbrev == b.abbrev
        && a.members_published == b.members_published
        && a.members_count == b.members_count
}

fn sorted(v: &[Slug]) -> BTreeSet<&Slug> {
    v.iter().collect()
}

fn same_links(a: &Organization, b: &Organization) -> bool {
    sorted(&a.sectors) == sorted(&b.sectors)
        && sorted(&a.services) == sorted(&b.services)
        && sorted(&a.responsible_for) == sorted(&b.responsible_for)
        && sorted(&a.member_of) == sorted(&b.member_of)
}

fn org_detail(org: &Organization) -> serde_json::Value {
    json!({
        "kind": org.kind,
        "name_en": org.name_en,
        "sectors": org.sectors,
        "member_of": org.member_of,
        "responsible_for": org.responsible_for,
    })
}

async fn insert_org(w: &mut WriteTx, org: &Organization) -> Result<i64, StoreError> {
    sqlx::query_scalar(
        "INSERT INTO organizations (slug, kind, name_en, name_ja, abbrev, members_published, \
         members_count, created_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(org.slug.as_str())
    .bind(org.kind.as_str())
    .bind(&org.name_en)
    .bind(&org.name_ja)
    .bind(&org.abbrev)
    .bind(&org.members_published)
    .bind(org.members_count.map(i64::from))
    .bind(w.now_us)
    .fetch_one(&mut *w.tx)
    .await
    .map_err(|e| conflict_on_unique(e, "organization", &org.slug))
}

async fn insert_links(
    w: &mut WriteTx,
    id: i64,
    org: &Organization,
    ids: &BTreeMap<Slug, i64>,
) -> Result<(), StoreError> {
    for s in &org.sectors {
        sqlx::query("INSERT INTO org_sectors (org_id, sector) VALUES ($1, $2)")
            .bind(id)
            .bind(s.as_str())
            .execute(&mut *w.tx)
            .await?;
    }
    for s in &org.services {
        sqlx::query("INSERT INTO org_services (org_id, service) VALUES ($1, $2)")
            .bind(id)
            .bind(s.as_str())
            .execute(&mut *w.tx)
            .await?;
    }
    for s in &org.responsible_for {
        sqlx::query("INSERT INTO responsibilities (org_id, sector) VALUES ($1, $2)")
            .bind(id)
            .bind(s.as_str())
            .execute(&mut *w.tx)
            .await?;
    }
    for g in &org.member_of {
        let group = ids
            .get(g)
            .ok_or_else(|| StoreError::not_found("organization", g))?;
        sqlx::query("INSERT INTO memberships (group_id, member_id) VALUES ($1, $2)")
            .bind(group)
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
    }
    Ok(())
}

async fn load_orgs(
    w: &mut WriteTx,
    kind: Option<OrgKind>,
) -> Result<BTreeMap<Slug, OrgRecord>, StoreError> {
    let rows: Vec<OrgRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORG_COLUMNS} FROM organizations o WHERE ($1 IS NULL OR o.kind = $1)"
    )))
    .bind(kind.map(|k| k.as_str()))
    .fetch_all(&mut *w.tx)
    .await?;
    let mut links = load_links(&mut w.tx, None).await?;
    rows.into_iter()
        .map(|r| {
            r.into_record(&mut links)
                .map(|rec| (rec.org.slug.clone(), rec))
        })
        .collect()
}

/// Links of every organization, or of the organizations in `only`.
/// A `LIKE` pattern (with `ESCAPE '\\'`) for text containing `text` in any case; empty for
/// no text.
pub(crate) fn like_pattern(text: &str) -> String {
    let t = text.trim().to_lowercase();
    if t.is_empty() {
        return t;
    }
    let mut out = String::with_capacity(t.len() + 2);
    out.push('%');
    for c in t.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

async fn load_links(
    conn: &mut sqlx::AnyConnection,
    only: Option<&[i64]>,
) -> Result<Links, StoreError> {
    let mut links = Links::default();
    if only.is_some_and(<[i64]>::is_empty) {
        return Ok(links);
    }
    // The id lists are integers we hold, so writing them into the SQL is safe.
    let filter = |col: &str| match only {
        None => String::new(),
        Some(ids) => {
            let list: Vec<String> = ids.iter().map(i64::to_string).collect();
            format!(" WHERE {col} IN ({})", list.join(","))
        }
    };
    for (select, col, order, map) in [
        (
            "SELECT l.org_id, l.sector FROM org_sectors l JOIN sectors s ON s.slug = l.sector",
            "l.org_id",
            "l.org_id, s.position",
            &mut links.sectors,
        ),
        (
            "SELECT l.org_id, l.service FROM org_services l",
            "l.org_id",
            "l.org_id, l.service",
            &mut links.services,
        ),
        (
            "SELECT l.org_id, l.sector FROM responsibilities l JOIN sectors s ON s.slug = l.sector",
            "l.org_id",
            "l.org_id, s.position",
            &mut links.responsible_for,
        ),
        (
            "SELECT m.member_id, g.slug FROM memberships m JOIN organizations g ON g.id = m.group_id",
            "m.member_id",
            "m.member_id, g.slug",
            &mut links.member_of,
        ),
    ] {
        let sql = format!("{select}{} ORDER BY {order}", filter(col));
        let rows: Vec<(i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await?;
        for (id, s) in rows {
            map.entry(id).or_default().push(slug(s)?);
        }
    }
    Ok(links)
}
