//! STIX objects in TAXII collections: adding envelopes (with the status a client polls),
//! paging with every TAXII filter under the sharing policy, versions, deletion, and the
//! federations that copy collections between servers.
//!
//! Who sees an object is decided in the one query every read goes through (`VISIBLE`):
//! objects made from an alert follow the alert's audience (its sender and the organizations it
//! was delivered to); other objects are read by the whole community at TLP:CLEAR and
//! TLP:GREEN and only by the organization holding them otherwise, unmarked ones included
//! (`ciphub_domain::policy::sharing::community_readable`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlx::Arguments as _;

use ciphub_domain::Slug;
use ciphub_domain::redact::mask_url;
use ciphub_domain::report::Tlp;
use serde::{Deserialize, Serialize};

use crate::{By, Store, StoreError};

/// The sharing policy as SQL, for an object row `o` and the viewer's organization id `$V`
/// (replaced by the caller with its placeholder). Keep in step with
/// `ciphub_domain::policy::sharing::community_readable`; `visibility_matches_the_domain_rule`
/// checks it.
/// The SQL form of `ciphub_domain::policy::sharing::may_leave` for an object row `o`: what
/// federation pushes and the MISP feed may carry (never what was made from an alert).
/// `what_may_leave_matches_the_domain_rule` checks it.
pub const MAY_LEAVE: &str = "(o.alert_id IS NULL AND o.tlp IN ('TLP:CLEAR', 'TLP:GREEN'))";

const VISIBLE: &str = "((o.alert_id IS NULL AND (o.tlp IN ('TLP:CLEAR', 'TLP:GREEN') OR o.owner_org_id = $V)) \
     OR (o.alert_id IS NOT NULL AND (o.owner_org_id = $V OR EXISTS (SELECT 1 FROM alert_deliveries d \
     WHERE d.alert_id = o.alert_id AND d.org_id = $V))))";

/// What a status says of a version of an object that another organization added first.
///
/// Only that organization adds versions, so nobody can revoke or rewrite another's object for
/// everyone. The answer is the same whether or not the caller may read the object, and comes
/// from the lookup every object of a write goes through (no extra query, so no extra time):
/// it tells that the id is held in the collection, nothing of its label, holder or content.
/// SDO and SRO ids are random (UUIDv4), so only an id the caller already knows can be asked
/// about. SCO ids may be UUIDv5, derived from the observable's value (an address, a hash):
/// for those a caller can learn that some organization holds that observable here. Telling it
/// less would need a copy of the object per organization, which one version history per id
/// does not have; what organizations say about an observable (indicators, sightings,
/// reports) stays unreadable.
const NOT_THE_OWNER: &str = "another organization added this object to the collection first, and only it adds versions of it; share yours under an id of your own";

/// One object to add, already checked.
#[derive(Clone, Debug)]
pub struct NewStixObject {
    pub object_id: String,
    pub object_type: String,
    pub spec_version: String,
    /// `modified` or `created`; `None` takes the time it is added.
    pub version_us: Option<i64>,
    /// The same, as the text the object came with (TAXII gives it back as it came).
    pub version_text: Option<String>,
    pub tlp: Option<Tlp>,
    /// The object's JSON text.
    pub body: String,
}

impl NewStixObject {
    /// The object's version as TAXII names it: as it came, else the time it was added.
    fn version_label(&self, version_us: i64) -> String {
        self.version_text
            .clone()
            .unwrap_or_else(|| ciphub_domain::stix::format_timestamp(version_us))
    }
}

/// Where a batch of objects goes and whose it is.
#[derive(Clone, Debug)]
pub struct StixBatch {
    pub collection: String,
    /// The organization that holds the copies (who posted, imported or federated them).
    pub owner: Slug,
    /// `taxii`, `alert`, `misp:<event>` or `federation:<id>`.
    pub origin: String,
    /// For objects made from an alert: the alert.
    pub alert_id: Option<i64>,
    /// The id of the status resource to record, if any.
    pub status_id: Option<String>,
}

/// One request's checked objects, for `Store::add_stix_batches`.
#[derive(Clone, Debug)]
pub struct StixAdd {
    pub batch: StixBatch,
    pub objects: Vec<NewStixObject>,
    /// Objects refused before the store (they go into the status as they are).
    pub failures: Vec<StatusDetail>,
    pub by: By,
    /// When the request came, for the status's `request_timestamp`; `None` takes the time of
    /// the write.
    pub requested_us: Option<i64>,
}

/// The outcome of one object of a POST.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusDetail {
    pub id: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
}

/// A TAXII status resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusRecord {
    pub id: String,
    pub collection: String,
    pub owner: Slug,
    pub created_us: i64,
    pub total: i64,
    pub successes: Vec<StatusDetail>,
    pub failures: Vec<StatusDetail>,
    /// Objects accepted but not written yet (`pending` while there are any).
    pub pendings: Vec<StatusDetail>,
}

/// Which versions of each object to return (`match[version]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionFilter {
    pub last: bool,
    pub first: bool,
    pub all: bool,
    /// Exact versions, in microseconds.
    pub at: Vec<i64>,
}

impl VersionFilter {
    /// The TAXII default: the newest version only.
    pub fn last() -> Self {
        Self {
            last: true,
            ..Self::default()
        }
    }
}

/// The filters of a TAXII objects, manifest or versions request.
#[derive(Clone, Debug, Default)]
pub struct StixQuery {
    pub types: Vec<String>,
    pub ids: Vec<String>,
    pub versions: VersionFilter,
    pub spec_versions: Vec<String>,
    /// Only objects added strictly after this time.
    pub added_after_us: Option<i64>,
    /// Continue after this (added, seq) position: the `next` cursor.
    pub after: Option<(i64, i64)>,
    pub limit: u32,
}

/// One stored version of an object.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct StixRow {
    pub seq: i64,
    pub object_id: String,
    pub object_type: String,
    pub spec_version: String,
    pub version_us: i64,
    /// The version as the object came (`None`: the time it was added is its version).
    pub version_text: Option<String>,
    pub added_us: i64,
    pub tlp: String,
    pub origin: String,
    /// The JSON text (empty when the query asked for the manifest only).
    pub body: String,
}

impl StixRow {
    /// The version as TAXII names it: the object's `modified` (else `created`) exactly as it
    /// was posted, else the time it was added.
    pub fn version(&self) -> String {
        self.version_text
            .clone()
            .unwrap_or_else(|| ciphub_domain::stix::format_timestamp(self.version_us))
    }
}

/// A page of rows and whether more follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StixPage {
    pub rows: Vec<StixRow>,
    pub more: bool,
}

/// A link to a collection of another TAXII server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FederationRecord {
    pub id: i64,
    pub url: String,
    pub remote_collection: String,
    pub direction: String,
    pub local_collection: String,
    pub every_us: i64,
    pub org: Slug,
    pub username: Option<String>,
    pub secret: Option<String>,
    pub cursor: String,
    pub next_us: i64,
    pub last_run_us: Option<i64>,
    pub last_error: Option<String>,
    pub moved: i64,
}

/// A new federation, already checked.
#[derive(Clone, Debug)]
pub struct NewFederation {
    pub url: String,
    pub remote_collection: String,
    pub direction: String,
    pub local_collection: String,
    pub every_us: i64,
    pub org: Slug,
    pub username: Option<String>,
    pub secret: Option<String>,
}

const ROW_COLUMNS: &str = "o.seq, o.object_id, o.object_type, o.spec_version, o.version_us, \
                           o.version_text, o.added_us, o.tlp, o.origin";

/// The advisory lock (PostgreSQL) that writers of STIX objects hold, instead of the audit
/// head, while they read which versions are held and write theirs: "ciphub" and 1.
pub(crate) const STIX_WRITERS: i64 = 0x6369_7068_7562_0001;

/// Rows per multi-row INSERT: 14 values each stays well under both engines' bind limits.
const INSERT_CHUNK: usize = 500;
/// Objects per statement when adding objects, and keys per lookup of the versions held. One
/// size (the last statement of a write may be shorter) keeps the statements few, so each is
/// prepared once per connection and then taken from its cache.
const OBJECT_CHUNK: usize = 100;

impl Store {
    /// Adds objects to a collection in one transaction and records the status resource.
    /// A version already held counts as a success and is not stored twice.
    pub async fn add_stix_objects(
        &self,
        batch: &StixBatch,
        objects: Vec<NewStixObject>,
        failures: Vec<StatusDetail>,
        by: &By,
    ) -> Result<StatusRecord, StoreError> {
        let mut statuses = self
            .add_stix_batches(&[StixAdd {
                batch: batch.clone(),
                objects,
                failures,
                by: by.clone(),
                requested_us: None,
            }])
            .await?;
        statuses
            .pop()
            .ok_or_else(|| StoreError::Corrupt("no status for the batch".into()))
    }

    /// Adds the objects of several requests in one transaction (group commit), in order, as
    /// if each were added alone: a later request sees the versions an earlier one added.
    /// An object id belongs to the organization that added it to the collection first (in a
    /// group, the earlier request); another's versions of it are refused in its status
    /// (`NOT_THE_OWNER`) and the rest of its request is taken. Once the owner has deleted
    /// every version, the id is free again.
    /// Returns each request's status, in order. An error leaves nothing of any of them.
    pub async fn add_stix_batches(
        &self,
        adds: &[StixAdd],
    ) -> Result<Vec<StatusRecord>, StoreError> {
        let Some(first_by) = adds.first().map(|a| a.by.clone()) else {
            return Ok(Vec::new());
        };
        let mut owner_ids: HashMap<&Slug, i64> = HashMap::new();
        for a in adds {
            if !owner_ids.contains_key(&a.batch.owner) {
                owner_ids.insert(&a.batch.owner, self.org_id(&a.batch.owner).await?);
            }
        }
        // The audit head is taken only to append the audit entries at the end: other writers
        // wait for this transaction only while it does that.
        let mut w = self.begin_write_late(&first_by, Some(STIX_WRITERS)).await?;
        let now = w.now_us;
        // Keys borrow the requests' own strings: no copies per object.
        type Key<'k> = (&'k str, &'k str);
        // Each object's key, hashed once, by collection.
        let total: usize = adds.iter().map(|a| a.objects.len()).sum();
        let mut wanted: BTreeMap<&str, HashMap<&str, i64>> = BTreeMap::new();
        for a in adds {
            let collection = a.batch.collection.as_str();
            let ids = wanted
                .entry(collection)
                .or_insert_with(|| HashMap::with_capacity(total));
            for o in &a.objects {
                ids.entry(o.object_id.as_str())
                    .or_insert_with(|| id_key(collection, &o.object_id));
            }
        }
        // What is held already of these objects: every version, by collection and id, and
        // who added each object first (its oldest row: (seq, organization)).
        let mut held: HashMap<Key, BTreeSet<i64>> = HashMap::with_capacity(total);
        let mut owners: HashMap<Key, (i64, i64)> = HashMap::with_capacity(total);
        for (collection, ids) in &wanted {
            let keys: Vec<i64> = ids.values().copied().collect();
            for chunk in keys.chunks(OBJECT_CHUNK) {
                // A short list is filled up with its last key: one statement for every lookup.
                let sql = format!(
                    "SELECT object_id, version_us, owner_org_id, seq FROM stix_objects WHERE collection = {} AND id_key IN ({})",
                    self.marks(1, 1),
                    self.marks(2, OBJECT_CHUNK)
                );
                let mut q = sqlx::query_as::<_, (String, i64, i64, i64)>(sqlx::AssertSqlSafe(sql))
                    .bind(*collection);
                let last = chunk.last().copied().unwrap_or_default();
                for k in chunk
                    .iter()
                    .copied()
                    .chain(std::iter::repeat(last))
                    .take(OBJECT_CHUNK)
                {
                    q = q.bind(k);
                }
                for (id, v, owner, seq) in q.fetch_all(&mut *w.tx).await? {
                    // A key shared by two objects is told apart by the id itself.
                    if let Some((id, _)) = ids.get_key_value(id.as_str()) {
                        held.entry((*collection, *id)).or_default().insert(v);
                        let first = owners.entry((*collection, *id)).or_insert((seq, owner));
                        if seq < first.0 {
                            *first = (seq, owner);
                        }
                    }
                }
            }
        }
        let before: HashMap<Key, (i64, i64)> = held
            .iter()
            .filter_map(|(k, vs)| Some((*k, (*vs.first()?, *vs.last()?))))
            .collect();
        // Each request's successes, and the rows to insert: (request, object, version).
        let mut statuses = Vec::with_capacity(adds.len());
        let mut new_rows: Vec<(usize, &NewStixObject, i64)> = Vec::with_capacity(total);
        let mut added = vec![0usize; adds.len()];
        for (n, a) in adds.iter().enumerate() {
            let mut successes = Vec::with_capacity(a.objects.len());
            let mut failures = a.failures.clone();
            let owner_id = owner_ids[&a.batch.owner];
            for o in &a.objects {
                let version = o.version_us.unwrap_or(now);
                // A new id is this request's from here on: a later request of the group (the
                // same transaction) finds it owned, as a later transaction would.
                let (_, owner) = *owners
                    .entry((a.batch.collection.as_str(), o.object_id.as_str()))
                    .or_insert((i64::MAX, owner_id));
                if owner != owner_id {
                    failures.push(StatusDetail {
                        id: o.object_id.clone(),
                        version: o.version_label(version),
                        message: Some(NOT_THE_OWNER.to_owned()),
                    });
                    continue;
                }
                let versions = held
                    .entry((a.batch.collection.as_str(), o.object_id.as_str()))
                    .or_default();
                successes.push(StatusDetail {
                    id: o.object_id.clone(),
                    version: o.version_label(version),
                    message: None,
                });
                if versions.insert(version) {
                    new_rows.push((n, o, version));
                    added[n] += 1;
                }
            }
            statuses.push(StatusRecord {
                id: a.batch.status_id.clone().unwrap_or_default(),
                collection: a.batch.collection.clone(),
                owner: a.batch.owner.clone(),
                created_us: a.requested_us.unwrap_or(now),
                total: (successes.len() + failures.len()) as i64,
                successes,
                failures,
                pendings: Vec::new(),
            });
        }
        // Objects whose newest or oldest version changed lose the flag on the old row.
        let mut touched: Vec<Key> = Vec::new();
        for (key, versions) in &held {
            let (Some(first), Some(last)) = (versions.first(), versions.last()) else {
                continue;
            };
            if let Some((old_first, old_last)) = before.get(key)
                && (old_first != first || old_last != last)
            {
                touched.push(*key);
            }
        }
        touched.sort_unstable();
        for (collection, id) in &touched {
            sqlx::query(
                "UPDATE stix_objects SET is_last = 0, is_first = 0 \
                 WHERE id_key = $3 AND collection = $1 AND object_id = $2 AND (is_last = 1 OR is_first = 1)",
            )
            .bind(collection)
            .bind(id)
            .bind(id_key(collection, id))
            .execute(&mut *w.tx)
            .await?;
        }
        for chunk in new_rows.chunks(OBJECT_CHUNK) {
            let sql = self.insert_rows(
                "INSERT INTO stix_objects (collection, object_id, id_key, object_type, spec_version, \
                 version_us, version_text, added_us, is_last, is_first, tlp, owner_org_id, alert_id, \
                 origin, body)",
                chunk.len(),
                15,
            );
            // The arguments are made room for at once, not grown value by value.
            let mut args = sqlx::any::AnyArguments::default();
            args.reserve(chunk.len() * 15, 0);
            for (n, o, version) in chunk {
                let batch = &adds[*n].batch;
                let versions = &held[&(batch.collection.as_str(), o.object_id.as_str())];
                let key = wanted[batch.collection.as_str()][o.object_id.as_str()];
                let tlp = o.tlp.map(|t| t.as_str()).unwrap_or("");
                let last = i64::from(versions.last() == Some(version));
                let first = i64::from(versions.first() == Some(version));
                (|| -> Result<(), sqlx::error::BoxDynError> {
                    args.add(batch.collection.as_str())?;
                    args.add(o.object_id.as_str())?;
                    args.add(key)?;
                    args.add(o.object_type.as_str())?;
                    args.add(o.spec_version.as_str())?;
                    args.add(*version)?;
                    args.add(o.version_text.as_deref())?;
                    args.add(now)?;
                    args.add(last)?;
                    args.add(first)?;
                    args.add(tlp)?;
                    args.add(owner_ids[&batch.owner])?;
                    args.add(batch.alert_id)?;
                    args.add(batch.origin.as_str())?;
                    args.add(o.body.as_str())
                })()
                .map_err(sqlx::Error::Encode)?;
            }
            sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
                .execute(&mut *w.tx)
                .await?;
        }
        let new_rows_len = new_rows.len();
        // Rows of touched objects that are still the newest or oldest get the flag back.
        for key in &touched {
            let (collection, id) = key;
            let versions = &held[key];
            for (flag, v) in [("is_last", versions.last()), ("is_first", versions.first())] {
                let Some(v) = v else { continue };
                let sql = format!(
                    "UPDATE stix_objects SET {flag} = 1 WHERE id_key = $4 AND collection = $1 AND object_id = $2 AND version_us = $3"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(collection)
                    .bind(id)
                    .bind(*v)
                    .bind(id_key(collection, id))
                    .execute(&mut *w.tx)
                    .await?;
            }
        }
        let recorded: Vec<&StatusRecord> = statuses
            .iter()
            .zip(adds)
            .filter(|(_, a)| a.batch.status_id.is_some())
            .map(|(s, _)| s)
            .collect();
        for chunk in recorded.chunks(INSERT_CHUNK) {
            // A status already recorded is kept: a process that took over an envelope whose
            // writer was only slow may write it a second time (its versions are held by then).
            let sql = format!(
                "{} ON CONFLICT (id) DO NOTHING",
                self.insert_rows(
                    "INSERT INTO taxii_status (id, collection, owner_org_id, created_us, total, successes, failures)",
                    chunk.len(),
                    7,
                )
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for s in chunk {
                q = q
                    .bind(&s.id)
                    .bind(&s.collection)
                    .bind(owner_ids[&s.owner])
                    .bind(s.created_us)
                    .bind(s.total)
                    .bind(serde_json::to_string(&s.successes).unwrap_or_default())
                    .bind(serde_json::to_string(&s.failures).unwrap_or_default());
            }
            q.execute(&mut *w.tx).await?;
            // The envelopes held for these statuses are written now.
            let sql = format!(
                "DELETE FROM taxii_intake WHERE status_id IN ({})",
                self.marks(1, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for s in chunk {
                q = q.bind(&s.id);
            }
            q.execute(&mut *w.tx).await?;
        }
        for ((a, added), status) in adds.iter().zip(added).zip(&statuses) {
            let batch = &a.batch;
            w.audit_by(
                &a.by,
                "stix.add",
                "collection",
                &batch.collection,
                serde_json::json!({
                    "origin": batch.origin,
                    "added": added,
                    "accepted": status.successes.len(),
                    "refused": status.failures.len(),
                    "status": batch.status_id,
                }),
            )
            .await?;
        }
        w.commit().await?;
        self.grew("stix_objects", new_rows_len);
        Ok(statuses)
    }

    /// A status resource, for the organization that posted it: recorded once its objects are
    /// written, and `pending` while its envelope is held (`hold_envelope`). One statement reads
    /// both, so an envelope written meanwhile is found in one or the other.
    pub async fn stix_status(
        &self,
        id: &str,
        viewer: &Slug,
    ) -> Result<Option<StatusRecord>, StoreError> {
        type Row = (String, String, String, i64, i64, String, String, String);
        let row: Option<Row> = sqlx::query_as(
            "SELECT s.id, s.collection, o.slug, s.created_us, s.total, s.successes, s.failures, '[]' \
             FROM taxii_status s JOIN organizations o ON o.id = s.owner_org_id \
             WHERE s.id = $1 AND o.slug = $2 \
             UNION ALL \
             SELECT h.status_id, h.collection, o.slug, h.requested_us, h.total, '[]', h.failures, h.pendings \
             FROM taxii_intake h JOIN organizations o ON o.id = h.owner_org_id \
             WHERE h.status_id = $1 AND o.slug = $2",
        )
        .bind(id)
        .bind(viewer.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let json = |text: &str| -> Result<Vec<StatusDetail>, StoreError> {
            serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
        };
        row.map(
            |(id, collection, owner, created_us, total, ok, failed, pending)| {
                Ok(StatusRecord {
                    id,
                    collection,
                    owner: Slug::parse(&owner).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    created_us,
                    total,
                    successes: json(&ok)?,
                    failures: json(&failed)?,
                    pendings: json(&pending)?,
                })
            },
        )
        .transpose()
    }

    /// A page of the objects of `collection` that `viewer`'s organization may see, in the
    /// order they were added. `with_body` false reads the manifest columns only.
    pub async fn stix_page(
        &self,
        collection: &str,
        viewer: &Slug,
        query: &StixQuery,
        with_body: bool,
    ) -> Result<StixPage, StoreError> {
        let viewer_id = self.org_id(viewer).await?;
        // Asked for some ids, the key index finds their few rows; the planner must not walk
        // the collection in date order instead, so the expressions hide that index from it.
        let (col, added) = if query.ids.is_empty() {
            ("o.collection", "o.added_us")
        } else {
            ("o.collection || ''", "o.added_us + 0")
        };
        let mut sql = format!(
            "SELECT {ROW_COLUMNS}, {} AS body FROM stix_objects o WHERE {col} = $1 AND {}",
            if with_body { "o.body" } else { "''" },
            VISIBLE.replace("$V", "$2")
        );
        let mut binds: Vec<Bind> = vec![Bind::Text(collection.to_owned()), Bind::Int(viewer_id)];
        push_filters(&mut sql, &mut binds, query, collection, added);
        sql.push_str(&format!(" ORDER BY {added}, o.seq"));
        let n = binds.len();
        sql.push_str(&format!(" LIMIT ${}", n + 1));
        binds.push(Bind::Int(i64::from(query.limit) + 1));
        let mut q = sqlx::query_as::<_, StixRow>(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = match b {
                Bind::Text(s) => q.bind(s),
                Bind::Int(i) => q.bind(i),
            };
        }
        let mut rows = q.fetch_all(&self.pool).await?;
        let more = rows.len() > query.limit as usize;
        rows.truncate(query.limit as usize);
        Ok(StixPage { rows, more })
    }

    /// Deletes the versions of an object that `owner`'s organization holds; returns how many,
    /// or `None` when it holds no version of the object at all.
    pub async fn delete_stix_object(
        &self,
        collection: &str,
        object_id: &str,
        versions: &VersionFilter,
        owner: &Slug,
        by: &By,
    ) -> Result<Option<u64>, StoreError> {
        let owner_id = self.org_id(owner).await?;
        let mut w = self.begin_write_late(by, Some(STIX_WRITERS)).await?;
        let held: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT version_us, is_first, is_last FROM stix_objects \
             WHERE id_key = $4 AND collection = $1 AND object_id = $2 AND owner_org_id = $3",
        )
        .bind(collection)
        .bind(object_id)
        .bind(owner_id)
        .bind(id_key(collection, object_id))
        .fetch_all(&mut *w.tx)
        .await?;
        let doomed: Vec<i64> = held
            .iter()
            .filter(|(v, first, last)| {
                versions.all
                    || (versions.last && *last == 1)
                    || (versions.first && *first == 1)
                    || versions.at.contains(v)
            })
            .map(|(v, _, _)| *v)
            .collect();
        for v in &doomed {
            sqlx::query(
                "DELETE FROM stix_objects WHERE id_key = $4 AND collection = $1 AND object_id = $2 AND version_us = $3",
            )
            .bind(collection)
            .bind(object_id)
            .bind(*v)
            .bind(id_key(collection, object_id))
            .execute(&mut *w.tx)
            .await?;
        }
        if !doomed.is_empty() {
            // The remaining versions' newest and oldest get their flags.
            sqlx::query(
                "UPDATE stix_objects SET \
                 is_last = CASE WHEN version_us = (SELECT MAX(version_us) FROM stix_objects WHERE id_key = $3 AND collection = $1 AND object_id = $2) THEN 1 ELSE 0 END, \
                 is_first = CASE WHEN version_us = (SELECT MIN(version_us) FROM stix_objects WHERE id_key = $3 AND collection = $1 AND object_id = $2) THEN 1 ELSE 0 END \
                 WHERE id_key = $3 AND collection = $1 AND object_id = $2",
            )
            .bind(collection)
            .bind(object_id)
            .bind(id_key(collection, object_id))
            .execute(&mut *w.tx)
            .await?;
            w.audit(
                "stix.delete",
                "stix-object",
                object_id,
                serde_json::json!({ "collection": collection, "versions": doomed.len() }),
            )
            .await?;
        }
        w.commit().await?;
        Ok((!held.is_empty()).then_some(doomed.len() as u64))
    }

    /// The ids of the alerts sent after the last one `collection` holds, oldest first, at most
    /// `limit` (for the export that follows new alerts).
    pub async fn alerts_to_export(
        &self,
        collection: &str,
        limit: u32,
    ) -> Result<Vec<i64>, StoreError> {
        // Alerts are exported in the order sent, so those after the newest exported one are the
        // rest; it is found from the newest alert back, and few are not yet exported.
        Ok(sqlx::query_scalar(
            "SELECT id FROM alerts WHERE seq > COALESCE((SELECT a.seq FROM alerts a WHERE EXISTS \
             (SELECT 1 FROM stix_objects o WHERE o.alert_id = a.id AND o.collection = $1) \
             ORDER BY a.seq DESC LIMIT 1), 0) ORDER BY seq LIMIT $2",
        )
        .bind(collection)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Objects of `collection` after `after_seq` that may leave this instance (TLP:CLEAR or
    /// TLP:GREEN, not made from an alert, and not brought in from `except_origins`), oldest
    /// first.
    pub async fn stix_outgoing(
        &self,
        collection: &str,
        after_seq: i64,
        except_origins: &[String],
        limit: u32,
    ) -> Result<Vec<StixRow>, StoreError> {
        let mut sql = format!(
            "SELECT {ROW_COLUMNS}, o.body FROM stix_objects o WHERE o.collection = $1 AND o.seq > $2 \
             AND {MAY_LEAVE}"
        );
        if !except_origins.is_empty() {
            sql.push_str(&format!(
                " AND o.origin NOT IN ({})",
                placeholders(4, except_origins.len())
            ));
        }
        sql.push_str(" ORDER BY o.seq LIMIT $3");
        let mut q = sqlx::query_as::<_, StixRow>(sqlx::AssertSqlSafe(sql))
            .bind(collection)
            .bind(after_seq)
            .bind(i64::from(limit));
        for o in except_origins {
            q = q.bind(o);
        }
        Ok(q.fetch_all(&self.pool).await?)
    }

    /// Records a new federation, due at once.
    pub async fn add_federation(
        &self,
        new: &NewFederation,
        by: &By,
    ) -> Result<FederationRecord, StoreError> {
        let org_id = self.org_id(&new.org).await?;
        let mut w = self.begin_write(by).await?;
        let now = w.now_us;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO federations (url, remote_collection, direction, local_collection, every_us, \
             org_id, username, secret, next_us, created_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             RETURNING id",
        )
        .bind(&new.url)
        .bind(&new.remote_collection)
        .bind(&new.direction)
        .bind(&new.local_collection)
        .bind(new.every_us)
        .bind(org_id)
        .bind(&new.username)
        .bind(&new.secret)
        .bind(now)
        .fetch_one(&mut *w.tx)
        .await
        .map_err(|e| {
            crate::error::conflict_on_unique(
                e,
                "federation",
                format!("{} {} {}", mask_url(&new.url), new.remote_collection, new.direction),
            )
        })?;
        // The secret is never written to the audit trail, nor credentials in the URL.
        w.audit(
            "federation.add",
            "federation",
            &id.to_string(),
            serde_json::json!({
                "url": mask_url(&new.url), "collection": new.remote_collection, "direction": new.direction,
                "local_collection": new.local_collection, "every_s": new.every_us / 1_000_000,
            }),
        )
        .await?;
        w.commit().await?;
        self.federation(id).await
    }

    /// One federation.
    pub async fn federation(&self, id: i64) -> Result<FederationRecord, StoreError> {
        self.federations()
            .await?
            .into_iter()
            .find(|f| f.id == id)
            .ok_or_else(|| StoreError::not_found("federation", id))
    }

    /// Every federation.
    pub async fn federations(&self) -> Result<Vec<FederationRecord>, StoreError> {
        type Row = (
            i64,
            String,
            String,
            String,
            String,
            i64,
            String,
            Option<String>,
            Option<String>,
            String,
            i64,
            Option<i64>,
            Option<String>,
            i64,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT f.id, f.url, f.remote_collection, f.direction, f.local_collection, f.every_us, \
             o.slug, f.username, f.secret, f.cursor, f.next_us, f.last_run_us, f.last_error, f.moved \
             FROM federations f JOIN organizations o ON o.id = f.org_id ORDER BY f.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(FederationRecord {
                    id: r.0,
                    url: r.1,
                    remote_collection: r.2,
                    direction: r.3,
                    local_collection: r.4,
                    every_us: r.5,
                    org: Slug::parse(&r.6).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    username: r.7,
                    secret: r.8,
                    cursor: r.9,
                    next_us: r.10,
                    last_run_us: r.11,
                    last_error: r.12,
                    moved: r.13,
                })
            })
            .collect()
    }

    /// Removes a federation (what it brought stays).
    pub async fn remove_federation(&self, id: i64, by: &By) -> Result<(), StoreError> {
        let mut w = self.begin_write(by).await?;
        let n = sqlx::query("DELETE FROM federations WHERE id = $1")
            .bind(id)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::not_found("federation", id));
        }
        w.audit(
            "federation.remove",
            "federation",
            &id.to_string(),
            serde_json::json!({}),
        )
        .await?;
        w.commit().await
    }

    /// Records a run of a federation: where it got to, how many objects it moved, and the
    /// error if it failed; it is due again `every_us` later.
    pub async fn record_federation_run(
        &self,
        id: i64,
        cursor: &str,
        moved: i64,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = crate::clock::to_us(self.clock.now());
        sqlx::query(
            "UPDATE federations SET cursor = $2, moved = moved + $3, last_error = $4, \
             last_run_us = $5, next_us = $5 + every_us WHERE id = $1",
        )
        .bind(id)
        .bind(cursor)
        .bind(moved)
        .bind(error)
        .bind(now)
        .execute(&self.write_pool)
        .await?;
        Ok(())
    }
}

/// The index key of an object in a collection: 64 bits of SHA-256 over both.
fn id_key(collection: &str, object_id: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(collection.as_bytes())
        .chain_update([0u8])
        .chain_update(object_id.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

impl Store {
    /// Placeholders for `n` values bound in order from the `from`th. SQLite gets anonymous
    /// `?`s: binding numbered ones costs time that grows with the square of their number
    /// (each bind looks its name up in a list), which a 1,400-value INSERT feels.
    /// `head VALUES (...), (...)` with placeholders for `rows` rows of `per_row` values.
    pub(crate) fn insert_rows(&self, head: &str, rows: usize, per_row: usize) -> String {
        let mut sql = String::with_capacity(head.len() + 8 + rows * (per_row * 4 + 3));
        sql.push_str(head);
        sql.push_str(" VALUES ");
        for i in 0..rows {
            if i > 0 {
                sql.push(',');
            }
            sql.push('(');
            sql.push_str(&self.marks(i * per_row + 1, per_row));
            sql.push(')');
        }
        sql
    }

    pub(crate) fn marks(&self, from: usize, n: usize) -> String {
        match self.backend {
            crate::Backend::Sqlite => vec!["?"; n].join(", "),
            crate::Backend::Postgres => placeholders(from, n),
        }
    }
}

/// A value bound to a dynamically built query.
enum Bind {
    Text(String),
    Int(i64),
}

/// `$from, $from+1, ...` for `n` values.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Appends the TAXII filters of `q` to a query over rows `o`.
fn push_filters(
    sql: &mut String,
    binds: &mut Vec<Bind>,
    q: &StixQuery,
    collection: &str,
    added: &str,
) {
    let list = |sql: &mut String, binds: &mut Vec<Bind>, column: &str, values: &[String]| {
        if values.is_empty() {
            return;
        }
        let marks = placeholders(binds.len() + 1, values.len());
        sql.push_str(&format!(" AND {column} IN ({marks})"));
        binds.extend(values.iter().cloned().map(Bind::Text));
    };
    list(sql, binds, "o.object_type", &q.types);
    if !q.ids.is_empty() {
        // The key finds the rows through its index; the id itself then decides.
        let marks = placeholders(binds.len() + 1, q.ids.len());
        sql.push_str(&format!(" AND o.id_key IN ({marks})"));
        binds.extend(q.ids.iter().map(|id| Bind::Int(id_key(collection, id))));
    }
    list(sql, binds, "o.object_id", &q.ids);
    list(sql, binds, "o.spec_version", &q.spec_versions);
    let v = &q.versions;
    if !v.all {
        let mut any = Vec::new();
        if v.last {
            any.push("o.is_last = 1".to_owned());
        }
        if v.first {
            any.push("o.is_first = 1".to_owned());
        }
        if !v.at.is_empty() {
            let marks = placeholders(binds.len() + 1, v.at.len());
            any.push(format!("o.version_us IN ({marks})"));
            binds.extend(v.at.iter().copied().map(Bind::Int));
        }
        if any.is_empty() {
            any.push("o.is_last = 1".to_owned());
        }
        sql.push_str(&format!(" AND ({})", any.join(" OR ")));
    }
    if let Some(after) = q.added_after_us {
        sql.push_str(&format!(" AND {added} > ${}", binds.len() + 1));
        binds.push(Bind::Int(after));
    }
    if let Some((added, seq)) = q.after {
        // `added_us >= a` bounds the index range; the rest skips what was already returned.
        let a = binds.len() + 1;
        sql.push_str(&format!(
            " AND {added} >= ${a} AND ({added} > ${a} OR o.seq > ${})",
            a + 1
        ));
        binds.push(Bind::Int(added));
        binds.push(Bind::Int(seq));
    }
}
