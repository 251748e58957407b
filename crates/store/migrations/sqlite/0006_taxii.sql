-- STIX 2.1 objects in TAXII 2.1 collections, the status of each POST, and the federations that
-- pull from and push to other TAXII servers (SQLite).

-- One row per version of an object in a collection (writers are serialized, and the store
-- adds a version only once). `seq` orders rows as they were added, and
-- with `added_us` it is the stateless paging cursor.
CREATE TABLE stix_objects (
    seq INTEGER PRIMARY KEY,
    -- The collection's alias (community, alerts).
    collection TEXT NOT NULL,
    object_id TEXT NOT NULL,
    -- 64 bits of SHA-256 over collection and object id: a small index key that finds an
    -- object's versions (the object id itself is compared after it).
    id_key INTEGER NOT NULL,
    object_type TEXT NOT NULL,
    spec_version TEXT NOT NULL,
    -- The version: `modified`, else `created`, else the time it was added (microseconds).
    version_us INTEGER NOT NULL,
    added_us INTEGER NOT NULL,
    -- 1 on the newest and the oldest version of each object (one row may be both).
    is_last INTEGER NOT NULL,
    is_first INTEGER NOT NULL,
    -- The object's TLP label ('' when unmarked: then only the owner sees it).
    tlp TEXT NOT NULL,
    -- The organization whose copy this is: who posted, imported or federated it.
    owner_org_id INTEGER NOT NULL REFERENCES organizations (id),
    -- For objects made from an alert: the alert, whose audience decides who sees them.
    alert_id INTEGER REFERENCES alerts (id),
    -- Where the object came from: 'taxii', 'alert', 'misp:<event>' or 'federation:<id>'.
    origin TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX stix_objects_page ON stix_objects (collection, added_us, seq);
CREATE INDEX stix_objects_key ON stix_objects (id_key, collection);

-- The outcome of each POST of an envelope (kept so clients can poll it).
CREATE TABLE taxii_status (
    id TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    owner_org_id INTEGER NOT NULL REFERENCES organizations (id),
    created_us INTEGER NOT NULL,
    total INTEGER NOT NULL,
    -- JSON arrays of status details: {id, version, message}.
    successes TEXT NOT NULL,
    failures TEXT NOT NULL
);

-- A link to a collection of another TAXII server.
CREATE TABLE federations (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL,
    remote_collection TEXT NOT NULL,
    -- pull or push.
    direction TEXT NOT NULL,
    -- The local collection objects come into or go out of.
    local_collection TEXT NOT NULL,
    every_us INTEGER NOT NULL,
    -- The organization the federated objects belong to here.
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    username TEXT,
    secret TEXT,
    -- pull: the remote's X-TAXII-Date-Added-Last seen; push: the last local seq sent.
    cursor TEXT NOT NULL DEFAULT '',
    next_us INTEGER NOT NULL,
    last_run_us INTEGER,
    last_error TEXT,
    moved INTEGER NOT NULL DEFAULT 0,
    created_us INTEGER NOT NULL,
    UNIQUE (url, remote_collection, direction)
);
