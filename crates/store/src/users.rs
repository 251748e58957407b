//! Users, their roles, API tokens and browser sessions.

use chrono::{DateTime, Utc};
use ciphub_domain::Slug;
use ciphub_domain::identity::{Role, Roles, UserName, check_roles};
use ciphub_domain::policy::Actor;
use ciphub_domain::registry::OrgKind;
use serde_json::json;

use crate::clock::{from_us, to_us};
use crate::error::conflict_on_unique;
use crate::public_ids::Kind;
use crate::{Backend, By, Store, StoreError};

/// A user as stored, without the password hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub id: i64,
    pub name: UserName,
    pub display_name: String,
    pub org: Slug,
    pub org_kind: OrgKind,
    pub roles: Roles,
    pub disabled: bool,
    pub created: DateTime<Utc>,
}

impl UserRecord {
    /// The user as the access policy sees it.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.id,
            user: self.name.clone(),
            org: self.org.clone(),
            org_kind: self.org_kind,
            roles: self.roles.clone(),
        }
    }
}

/// Something an organization's admins are told about its own people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityNotice {
    pub id: i64,
    /// `secretariat-granted`: a user was given the secretariat role; `created-by-outsider`: an
    /// admin of another organization created the user.
    pub kind: String,
    /// The user concerned.
    pub user: String,
    /// Who did it (none for a command-line tool).
    pub actor_user: Option<String>,
    pub actor_org: Option<String>,
    pub created: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct NoticeRow {
    id: i64,
    kind: String,
    user_name: String,
    actor_user: Option<String>,
    actor_org: Option<String>,
    created_us: i64,
}

/// Tells an organization's admins about a change to its people, in the change's transaction.
async fn notify_admins(
    w: &mut crate::write::WriteTx,
    org_id: i64,
    kind: &str,
    user: &UserName,
) -> Result<(), StoreError> {
    let (actor_user, actor_org) = (w.by().user.clone(), w.by().org.clone());
    sqlx::query(
        "INSERT INTO security_notices (org_id, kind, user_name, actor_user, actor_org, created_us) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(org_id)
    .bind(kind)
    .bind(user.as_str())
    .bind(actor_user)
    .bind(actor_org)
    .bind(w.now_us)
    .execute(&mut *w.tx)
    .await?;
    Ok(())
}

/// A user to create. The password, if any, arrives already hashed.
#[derive(Clone)]
pub struct NewUser {
    pub org: Slug,
    pub name: UserName,
    pub display_name: String,
    pub roles: Roles,
    pub password_hash: Option<String>,
}

/// Changes to a user; `None` leaves a field alone.
#[derive(Clone, Default)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub roles: Option<Roles>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

/// An API token's record; the token itself is never stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: i64,
    pub user: UserName,
    pub label: String,
    pub created: DateTime<Utc>,
    pub expires: Option<DateTime<Utc>>,
    pub revoked: Option<DateTime<Utc>>,
    pub last_used: Option<DateTime<Utc>>,
}

/// What a presented token (or session) turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenLookup {
    Valid(UserRecord),
    Unknown,
    Expired,
    Revoked,
    UserDisabled,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    name: String,
    display_name: String,
    org: String,
    org_kind: String,
    disabled_us: Option<i64>,
    created_us: i64,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    user_name: String,
    label: String,
    created_us: i64,
    expires_us: Option<i64>,
    revoked_us: Option<i64>,
    last_used_us: Option<i64>,
}

impl TokenRow {
    fn into_record(self) -> Result<TokenRecord, StoreError> {
        Ok(TokenRecord {
            id: self.id,
            user: UserName::parse(&self.user_name)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            label: self.label,
            created: from_us(self.created_us),
            expires: self.expires_us.map(from_us),
            revoked: self.revoked_us.map(from_us),
            last_used: self.last_used_us.map(from_us),
        })
    }
}

#[derive(sqlx::FromRow)]
struct TokenUserRow {
    token_id: i64,
    expires_us: Option<i64>,
    revoked_us: Option<i64>,
    last_used_us: Option<i64>,
    id: i64,
    name: String,
    display_name: String,
    org: String,
    org_kind: String,
    disabled_us: Option<i64>,
    created_us: i64,
    roles: Option<String>,
}

/// Token uses waiting to be written.
#[derive(Debug)]
pub(crate) struct LastUsedQueue {
    pending: std::collections::HashMap<i64, i64>,
    since: std::time::Instant,
}

impl Default for LastUsedQueue {
    fn default() -> Self {
        Self {
            pending: Default::default(),
            since: std::time::Instant::now(),
        }
    }
}

/// How long a token found valid is believed without asking the database again.
const TOKEN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);
/// Tokens cached at most; past that the cache starts over.
const TOKEN_CACHE_MAX: usize = 10_000;

/// Tokens recently found valid, so that a client sending request after request is not looked
/// up in the database each time. Only valid tokens are kept, for `TOKEN_CACHE_TTL`; expiry is
/// checked on every use. A change to users, roles, tokens or organization kinds drops the
/// whole cache: in this process when its transaction commits, in other processes on
/// PostgreSQL when the `credentials` event reaches them. A lookup that began before a change
/// never caches what it read (the generation tells).
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    inner: std::sync::Mutex<TokenCacheInner>,
}

#[derive(Debug, Default)]
struct TokenCacheInner {
    generation: u64,
    entries: std::collections::HashMap<String, CachedToken>,
}

#[derive(Debug)]
struct CachedToken {
    user: UserRecord,
    expires_us: Option<i64>,
    at: std::time::Instant,
}

impl TokenCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, TokenCacheInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The user of a token found valid less than `TOKEN_CACHE_TTL` ago and not expired at
    /// `now_us`; else the generation to pass to `keep` after asking the database.
    fn get(&self, token_hash: &str, now_us: i64) -> Result<UserRecord, u64> {
        let mut inner = self.lock();
        match inner.entries.get(token_hash) {
            Some(c)
                if c.at.elapsed() < TOKEN_CACHE_TTL && c.expires_us.is_none_or(|e| now_us < e) =>
            {
                return Ok(c.user.clone());
            }
            Some(_) => {
                inner.entries.remove(token_hash);
            }
            None => {}
        }
        Err(inner.generation)
    }

    /// Caches a valid token read at `generation`, unless something changed since.
    fn keep(&self, generation: u64, token_hash: &str, user: &UserRecord, expires_us: Option<i64>) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.entries.len() >= TOKEN_CACHE_MAX {
            inner.entries.clear();
        }
        inner.entries.insert(
            token_hash.to_owned(),
            CachedToken {
                user: user.clone(),
                expires_us,
                at: std::time::Instant::now(),
            },
        );
    }

    /// Drops every cached token.
    pub(crate) fn forget(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
    }
}

/// How stale a token's recorded last use may get before it is written again.
const LAST_USED_GRANULARITY_US: i64 = 60_000_000;

const USER_SELECT: &str = "SELECT u.id, u.name, u.display_name, o.slug AS org, o.kind AS org_kind, \
     u.disabled_us, u.created_us FROM users u JOIN organizations o ON o.id = u.org_id";

const TOKEN_SELECT: &str = "SELECT t.id, u.name AS user_name, t.label, t.created_us, t.expires_us, \
     t.revoked_us, t.last_used_us FROM api_tokens t JOIN users u ON u.id = t.user_id";

/// A user as stored, with its roles.
fn user_record<'a>(
    row: UserRow,
    roles: impl IntoIterator<Item = &'a str>,
) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: row.id,
        name: UserName::parse(&row.name).map_err(corrupt)?,
        display_name: row.display_name,
        org: Slug::parse(&row.org).map_err(corrupt)?,
        org_kind: row.org_kind.parse().map_err(corrupt)?,
        roles: roles
            .into_iter()
            .map(|r| r.parse::<Role>())
            .collect::<Result<_, _>>()
            .map_err(corrupt)?,
        disabled: row.disabled_us.is_some(),
        created: from_us(row.created_us),
    })
}

fn corrupt(e: impl ToString) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl Store {
    async fn user_from_row(
        &self,
        conn: &mut sqlx::AnyConnection,
        row: UserRow,
    ) -> Result<UserRecord, StoreError> {
        let roles: Vec<String> =
            sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
                .bind(row.id)
                .fetch_all(&mut *conn)
                .await?;
        user_record(row, roles.iter().map(String::as_str))
    }

    /// Creates a user in an existing organization with roles that fit it.
    pub async fn create_user(&self, new: &NewUser, by: &By) -> Result<UserRecord, StoreError> {
        let mut w = self.begin_write(by).await?;
        let org: Option<(i64, String)> =
            sqlx::query_as("SELECT id, kind FROM organizations WHERE slug = $1")
                .bind(new.org.as_str())
                .fetch_optional(&mut *w.tx)
                .await?;
        let (org_id, kind) = org.ok_or_else(|| StoreError::not_found("organization", &new.org))?;
        let kind: OrgKind = kind.parse().map_err(corrupt)?;
        check_roles(&new.roles, kind)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (org_id, name, display_name, password_hash, created_us) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(org_id)
        .bind(new.name.as_str())
        .bind(&new.display_name)
        .bind(&new.password_hash)
        .bind(w.now_us)
        .fetch_one(&mut *w.tx)
        .await
        .map_err(|e| conflict_on_unique(e, "user", &new.name))?;
        for role in &new.roles {
            sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                .bind(id)
                .bind(role.as_str())
                .execute(&mut *w.tx)
                .await?;
        }
        if w.by().org.as_deref() != Some(new.org.as_str()) && w.by().org.is_some() {
            notify_admins(&mut w, org_id, "created-by-outsider", &new.name).await?;
        }
        if new.roles.contains(&Role::Secretariat) {
            notify_admins(&mut w, org_id, "secretariat-granted", &new.name).await?;
        }
        w.audit_about(
            new.org.as_str(),
            "user.create",
            "user",
            new.name.as_str(),
            json!({"org": new.org, "roles": new.roles, "password_set": new.password_hash.is_some()}),
        )
        .await?;
        let now = w.now_us;
        w.commit().await?;
        Ok(UserRecord {
            id,
            name: new.name.clone(),
            display_name: new.display_name.clone(),
            org: new.org.clone(),
            org_kind: kind,
            roles: new.roles.clone(),
            disabled: false,
            created: from_us(now),
        })
    }

    /// Whether `org` has an admin who is not disabled (not found when there is no such
    /// organization).
    pub async fn has_active_admin(&self, org: &Slug) -> Result<bool, StoreError> {
        let found: Option<(i64, i64)> = sqlx::query_as(
            "SELECT o.id, (SELECT COUNT(*) FROM users u JOIN user_roles r ON r.user_id = u.id \
             WHERE u.org_id = o.id AND r.role = $2 AND u.disabled_us IS NULL) \
             FROM organizations o WHERE o.slug = $1",
        )
        .bind(org.as_str())
        .bind(Role::Admin.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let (_, admins) = found.ok_or_else(|| StoreError::not_found("organization", org))?;
        Ok(admins > 0)
    }

    /// What `org`'s admins were told about its people, newest first.
    pub async fn security_notices(
        &self,
        org: &Slug,
        limit: u32,
    ) -> Result<Vec<SecurityNotice>, StoreError> {
        let ids = self.public_ids().await?;
        let rows: Vec<NoticeRow> = sqlx::query_as(
            "SELECT n.id, n.kind, n.user_name, n.actor_user, n.actor_org, n.created_us \
             FROM security_notices n JOIN organizations o ON o.id = n.org_id \
             WHERE o.slug = $1 ORDER BY n.id DESC LIMIT $2",
        )
        .bind(org.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| SecurityNotice {
                id: ids.hide(Kind::SecurityNotice, r.id),
                kind: r.kind,
                user: r.user_name,
                actor_user: r.actor_user,
                actor_org: r.actor_org,
                created: from_us(r.created_us),
            })
            .collect())
    }

    /// A user by name.
    pub async fn get_user(&self, name: &str) -> Result<UserRecord, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{USER_SELECT} WHERE u.name = $1"
        )))
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
        let row = row.ok_or_else(|| StoreError::not_found("user", name))?;
        self.user_from_row(&mut conn, row).await
    }

    /// A user and the password hash to check a login against; `None` when there is no such user.
    pub async fn user_for_login(
        &self,
        name: &str,
    ) -> Result<Option<(UserRecord, Option<String>)>, StoreError> {
        let hash: Option<(Option<String>,)> =
            sqlx::query_as("SELECT password_hash FROM users WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        match hash {
            None => Ok(None),
            Some((hash,)) => Ok(Some((self.get_user(name).await?, hash))),
        }
    }

    /// The users of one organization, or of all when `org` is `None`, by name.
    pub async fn list_users(&self, org: Option<&Slug>) -> Result<Vec<UserRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{USER_SELECT} WHERE ($1 IS NULL OR o.slug = $1) ORDER BY u.name"
        )))
        .bind(org.map(|o| o.as_str()))
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.user_from_row(&mut conn, row).await?);
        }
        Ok(out)
    }

    /// The name and display name of every user of `org`, disabled ones too, by name: text that
    /// could name the organization in an anonymous report.
    pub async fn user_names(&self, org: &Slug) -> Result<Vec<(String, String)>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT u.name, u.display_name FROM users u JOIN organizations o ON o.id = u.org_id \
             WHERE o.slug = $1 ORDER BY u.name",
        )
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Changes a user; disabling one also ends its sessions.
    pub async fn update_user(
        &self,
        name: &UserName,
        patch: &UserPatch,
        by: &By,
    ) -> Result<UserRecord, StoreError> {
        let mut w = self.begin_write(by).await?;
        let user: Option<(i64, String, String, i64)> = sqlx::query_as(
            "SELECT u.id, o.kind, o.slug, o.id FROM users u JOIN organizations o ON o.id = u.org_id \
             WHERE u.name = $1",
        )
        .bind(name.as_str())
        .fetch_optional(&mut *w.tx)
        .await?;
        let (id, kind, org, org_id) = user.ok_or_else(|| StoreError::not_found("user", name))?;
        let kind: OrgKind = kind.parse().map_err(corrupt)?;
        let mut detail = serde_json::Map::new();
        if let Some(display) = &patch.display_name {
            sqlx::query("UPDATE users SET display_name = $2 WHERE id = $1")
                .bind(id)
                .bind(display)
                .execute(&mut *w.tx)
                .await?;
            detail.insert("display_name".into(), json!(display));
        }
        if let Some(roles) = &patch.roles {
            check_roles(roles, kind)?;
            let had_secretariat: Option<String> =
                sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1 AND role = $2")
                    .bind(id)
                    .bind(Role::Secretariat.as_str())
                    .fetch_optional(&mut *w.tx)
                    .await?;
            if roles.contains(&Role::Secretariat) && had_secretariat.is_none() {
                notify_admins(&mut w, org_id, "secretariat-granted", name).await?;
            }
            sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
            for role in roles {
                sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                    .bind(id)
                    .bind(role.as_str())
                    .execute(&mut *w.tx)
                    .await?;
            }
            detail.insert("roles".into(), json!(roles));
        }
        if let Some(disabled) = patch.disabled {
            sqlx::query("UPDATE users SET disabled_us = $2 WHERE id = $1")
                .bind(id)
                .bind(disabled.then_some(w.now_us))
                .execute(&mut *w.tx)
                .await?;
            if disabled {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *w.tx)
                    .await?;
            }
            detail.insert("disabled".into(), json!(disabled));
        }
        if let Some(hash) = &patch.password_hash {
            sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(id)
                .bind(hash)
                .execute(&mut *w.tx)
                .await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
            detail.insert("password_changed".into(), json!(true));
        }
        w.audit_about(
            &org,
            "user.update",
            "user",
            name.as_str(),
            serde_json::Value::Object(detail),
        )
        .await?;
        w.emit(crate::Event::Credentials);
        w.commit().await?;
        self.get_user(name.as_str()).await
    }

    /// Records a new API token for a user, living `lifetime` from now (or for ever); the caller
    /// keeps the token, the store its hash.
    pub async fn create_token(
        &self,
        user: &UserName,
        token_hash: &str,
        label: &str,
        lifetime: Option<chrono::TimeDelta>,
        by: &By,
    ) -> Result<TokenRecord, StoreError> {
        let ids = self.public_ids().await?;
        let mut w = self.begin_write(by).await?;
        let expires = lifetime.map(|d| from_us(w.now_us) + d);
        let owner: Option<(i64, String)> = sqlx::query_as(
            "SELECT u.id, o.slug FROM users u JOIN organizations o ON o.id = u.org_id \
             WHERE u.name = $1",
        )
        .bind(user.as_str())
        .fetch_optional(&mut *w.tx)
        .await?;
        let (user_id, org) = owner.ok_or_else(|| StoreError::not_found("user", user))?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (user_id, token_hash, label, created_us, expires_us) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(user_id)
        .bind(token_hash)
        .bind(label)
        .bind(w.now_us)
        .bind(expires.map(to_us))
        .fetch_one(&mut *w.tx)
        .await?;
        let id = ids.hide(Kind::Token, id);
        w.audit_about(
            &org,
            "token.issue",
            "token",
            &id.to_string(),
            json!({"user": user, "label": label, "expires": expires}),
        )
        .await?;
        let now = w.now_us;
        w.commit().await?;
        Ok(TokenRecord {
            id,
            user: user.clone(),
            label: label.to_owned(),
            created: from_us(now),
            expires,
            revoked: None,
            last_used: None,
        })
    }

    /// The tokens of one user, newest first.
    pub async fn list_tokens(&self, user: &UserName) -> Result<Vec<TokenRecord>, StoreError> {
        self.tokens_where(Some(user)).await
    }

    /// Every user's tokens, newest first, for an operator at the command line (the API lists
    /// only the caller's own, with `list_tokens`).
    pub async fn list_all_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.tokens_where(None).await
    }

    /// Tokens, of `user` or of everyone, newest first, under their public ids.
    async fn tokens_where(&self, user: Option<&UserName>) -> Result<Vec<TokenRecord>, StoreError> {
        self.flush_last_used().await?;
        let rows: Vec<TokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{TOKEN_SELECT} WHERE ($1 IS NULL OR u.name = $1) ORDER BY t.id DESC"
        )))
        .bind(user.map(UserName::as_str))
        .fetch_all(&self.pool)
        .await?;
        let ids = self.public_ids().await?;
        rows.into_iter()
            .map(|r| {
                let mut t = r.into_record()?;
                t.id = ids.hide(Kind::Token, t.id);
                Ok(t)
            })
            .collect()
    }

    /// One token's record, by its public id.
    pub async fn get_token(&self, id: i64) -> Result<TokenRecord, StoreError> {
        let ids = self.public_ids().await?;
        let stored = ids
            .reveal(Kind::Token, id)
            .ok_or_else(|| StoreError::not_found("token", id))?;
        let row: Option<TokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{TOKEN_SELECT} WHERE t.id = $1"
        )))
        .bind(stored)
        .fetch_optional(&self.pool)
        .await?;
        let mut t = row
            .ok_or_else(|| StoreError::not_found("token", id))?
            .into_record()?;
        t.id = id;
        Ok(t)
    }

    /// Revokes a token; revoking twice keeps the first time.
    pub async fn revoke_token(&self, id: i64, by: &By) -> Result<TokenRecord, StoreError> {
        let stored = self
            .public_ids()
            .await?
            .reveal(Kind::Token, id)
            .ok_or_else(|| StoreError::not_found("token", id))?;
        let mut w = self.begin_write(by).await?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_us = $2 WHERE id = $1 AND revoked_us IS NULL",
        )
        .bind(stored)
        .bind(w.now_us)
        .execute(&mut *w.tx)
        .await?;
        if done.rows_affected() == 1 {
            let org: String = sqlx::query_scalar(
                "SELECT o.slug FROM api_tokens t JOIN users u ON u.id = t.user_id \
                 JOIN organizations o ON o.id = u.org_id WHERE t.id = $1",
            )
            .bind(stored)
            .fetch_one(&mut *w.tx)
            .await?;
            w.audit_about(&org, "token.revoke", "token", &id.to_string(), json!({}))
                .await?;
            w.emit(crate::Event::Credentials);
            w.commit().await?;
        }
        self.get_token(id).await
    }

    /// Finds the user behind a token hash and says whether it may be used now.
    pub async fn lookup_token(&self, token_hash: &str) -> Result<TokenLookup, StoreError> {
        let generation = match self.tokens.get(token_hash, to_us(self.clock.now())) {
            Ok(user) => return Ok(TokenLookup::Valid(user)),
            Err(generation) => generation,
        };
        // One statement for the token, its user, organization and roles: every API request
        // starts here.
        let roles = match self.backend {
            Backend::Sqlite => "group_concat(r.role, ',')",
            Backend::Postgres => "string_agg(r.role, ',')",
        };
        let row: Option<TokenUserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT t.id AS token_id, t.expires_us, t.revoked_us, t.last_used_us, u.id, u.name, \
             u.display_name, o.slug AS org, o.kind AS org_kind, u.disabled_us, u.created_us, \
             (SELECT {roles} FROM user_roles r WHERE r.user_id = u.id) AS roles \
             FROM api_tokens t JOIN users u ON u.id = t.user_id \
             JOIN organizations o ON o.id = u.org_id WHERE t.token_hash = $1"
        )))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(TokenLookup::Unknown);
        };
        let now = to_us(self.clock.now());
        if row.revoked_us.is_some() {
            return Ok(TokenLookup::Revoked);
        }
        if row.expires_us.is_some_and(|e| e <= now) {
            return Ok(TokenLookup::Expired);
        }
        // Last use is bookkeeping, not a state change: not audited, recorded at most once a
        // minute per token, and written in batches so that reading stays free of writes.
        if row
            .last_used_us
            .is_none_or(|t| now - t >= LAST_USED_GRANULARITY_US)
        {
            self.note_last_used(row.token_id, now).await?;
        }
        let mut roles: Vec<&str> = row
            .roles
            .as_deref()
            .map(|r| r.split(',').collect())
            .unwrap_or_default();
        roles.sort_unstable();
        let user = user_record(
            UserRow {
                id: row.id,
                name: row.name,
                display_name: row.display_name,
                org: row.org,
                org_kind: row.org_kind,
                disabled_us: row.disabled_us,
                created_us: row.created_us,
            },
            roles,
        )?;
        if user.disabled {
            return Ok(TokenLookup::UserDisabled);
        }
        self.tokens
            .keep(generation, token_hash, &user, row.expires_us);
        Ok(TokenLookup::Valid(user))
    }

    /// Queues a token's last use; writes the queue when it is older than a second.
    async fn note_last_used(&self, token: i64, now: i64) -> Result<(), StoreError> {
        let due = {
            let mut q = self.last_used.lock().unwrap_or_else(|e| e.into_inner());
            q.pending.insert(token, now);
            if q.since.elapsed() >= std::time::Duration::from_secs(1) {
                q.since = std::time::Instant::now();
                std::mem::take(&mut q.pending)
            } else {
                Default::default()
            }
        };
        self.write_last_used(due).await
    }

    /// Writes every queued last use now (before tokens are listed, and at close).
    pub async fn flush_last_used(&self) -> Result<(), StoreError> {
        let due = {
            let mut q = self.last_used.lock().unwrap_or_else(|e| e.into_inner());
            q.since = std::time::Instant::now();
            std::mem::take(&mut q.pending)
        };
        self.write_last_used(due).await
    }

    async fn write_last_used(
        &self,
        due: std::collections::HashMap<i64, i64>,
    ) -> Result<(), StoreError> {
        if due.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_plain().await?;
        for (id, at) in due {
            sqlx::query(
                "UPDATE api_tokens SET last_used_us = $2 WHERE id = $1 \
                 AND (last_used_us IS NULL OR last_used_us < $2)",
            )
            .bind(id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A user's chosen language and time zone for the pages, each if chosen.
    pub async fn user_preferences(
        &self,
        user_id: i64,
    ) -> Result<(Option<String>, Option<String>), StoreError> {
        let row: Option<(Option<String>, Option<String>)> =
            sqlx::query_as("SELECT locale, time_zone FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.unwrap_or_default())
    }

    /// Sets a user's time zone for the pages (an IANA name the caller has checked), or takes
    /// it back to the instance's (`None`).
    pub async fn set_user_time_zone(
        &self,
        user: &UserRecord,
        zone: Option<&str>,
    ) -> Result<(), StoreError> {
        if let Some(z) = zone
            && (z.is_empty()
                || z.len() > 64
                || !z
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c)))
        {
            return Err(StoreError::invalid(
                "time_zone",
                "an IANA time zone name, such as Asia/Tokyo",
            ));
        }
        self.set_preference(user, "time_zone", zone).await
    }

    /// Sets a user's language for the pages (`en` or `ja`).
    pub async fn set_user_locale(&self, user: &UserRecord, locale: &str) -> Result<(), StoreError> {
        if !matches!(locale, "en" | "ja") {
            return Err(StoreError::invalid("locale", "en or ja"));
        }
        self.set_preference(user, "locale", Some(locale)).await
    }

    /// Sets one of a user's page preferences (`column`, a name this crate gives, never input),
    /// audited as `user.<column>`.
    async fn set_preference(
        &self,
        user: &UserRecord,
        column: &'static str,
        value: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write(&By::actor(&user.actor())).await?;
        let sql = format!("UPDATE users SET {column} = $2 WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user.id)
            .bind(value)
            .execute(&mut *w.tx)
            .await?;
        w.audit(
            &format!("user.{column}"),
            "user",
            user.name.as_str(),
            json!({ column: value }),
        )
        .await?;
        w.commit().await
    }

    /// Starts a browser session for a user who has just logged in.
    pub async fn create_session(
        &self,
        user: &UserRecord,
        session_hash: &str,
        expires: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write(&By::actor(&user.actor())).await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_us, expires_us) VALUES ($1, $2, $3, $4)",
        )
        .bind(session_hash)
        .bind(user.id)
        .bind(w.now_us)
        .bind(to_us(expires))
        .execute(&mut *w.tx)
        .await?;
        w.audit("session.login", "user", user.name.as_str(), json!({}))
            .await?;
        w.commit().await
    }

    /// Finds the user behind a session cookie's hash.
    pub async fn lookup_session(&self, session_hash: &str) -> Result<TokenLookup, StoreError> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT u.name, s.expires_us FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1",
        )
        .bind(session_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some((user, expires)) = row else {
            return Ok(TokenLookup::Unknown);
        };
        if expires <= to_us(self.clock.now()) {
            return Ok(TokenLookup::Expired);
        }
        let user = self.get_user(&user).await?;
        Ok(if user.disabled {
            TokenLookup::UserDisabled
        } else {
            TokenLookup::Valid(user)
        })
    }

    /// Ends a browser session.
    pub async fn delete_session(&self, session_hash: &str, by: &By) -> Result<(), StoreError> {
        let mut w = self.begin_write(by).await?;
        let done = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(session_hash)
            .execute(&mut *w.tx)
            .await?;
        if done.rows_affected() > 0 {
            let who = by.user.clone().unwrap_or_default();
            w.audit("session.logout", "user", &who, json!({})).await?;
            w.commit().await?;
        }
        Ok(())
    }
}
