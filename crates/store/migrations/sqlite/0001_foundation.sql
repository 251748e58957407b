-- The foundation: registry, identities, audit chain (SQLite).
-- Times are microseconds since the Unix epoch (UTC) in INTEGER columns, the same on both backends.

CREATE TABLE sectors (
    slug TEXT PRIMARY KEY,
    name_en TEXT NOT NULL,
    name_ja TEXT,
    position INTEGER NOT NULL,
    profile TEXT NOT NULL
);

CREATE TABLE services (
    slug TEXT PRIMARY KEY,
    sector TEXT NOT NULL REFERENCES sectors (slug),
    name_en TEXT NOT NULL,
    name_ja TEXT,
    position INTEGER NOT NULL
);
CREATE INDEX services_sector ON services (sector);

CREATE TABLE organizations (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    name_en TEXT NOT NULL,
    name_ja TEXT,
    abbrev TEXT,
    members_published TEXT,
    members_count INTEGER,
    created_us INTEGER NOT NULL
);
CREATE INDEX organizations_kind ON organizations (kind);

CREATE TABLE org_sectors (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    sector TEXT NOT NULL REFERENCES sectors (slug),
    PRIMARY KEY (org_id, sector)
);
CREATE INDEX org_sectors_sector ON org_sectors (sector);

CREATE TABLE org_services (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    service TEXT NOT NULL REFERENCES services (slug),
    PRIMARY KEY (org_id, service)
);

CREATE TABLE responsibilities (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    sector TEXT NOT NULL REFERENCES sectors (slug),
    PRIMARY KEY (org_id, sector)
);

CREATE TABLE memberships (
    group_id INTEGER NOT NULL REFERENCES organizations (id),
    member_id INTEGER NOT NULL REFERENCES organizations (id),
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX memberships_member ON memberships (member_id);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT,
    disabled_us INTEGER,
    created_us INTEGER NOT NULL
);
CREATE INDEX users_org ON users (org_id);

CREATE TABLE user_roles (
    user_id INTEGER NOT NULL REFERENCES users (id),
    role TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    expires_us INTEGER,
    revoked_us INTEGER,
    last_used_us INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    created_us INTEGER NOT NULL,
    expires_us INTEGER NOT NULL
);

CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at_us INTEGER NOT NULL,
    actor_user TEXT,
    actor_org TEXT,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_org ON audit_log (actor_org, seq);
CREATE INDEX audit_log_user ON audit_log (actor_user, seq);

-- The chain head: one row, updated in every writing transaction, which also serializes writers.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
