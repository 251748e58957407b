-- TAXII envelopes accepted but not yet written (their POST was answered before the objects
-- were stored): the envelope as it came, so that a restart writes it, and what its status
-- says meanwhile. A row goes in the transaction that stores its objects. `worker` is the
-- process writing it; a row whose worker has been silent for `GONE_AFTER` is taken over.
CREATE TABLE taxii_intake (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status_id TEXT NOT NULL UNIQUE,
    collection TEXT NOT NULL,
    owner_org_id BIGINT NOT NULL REFERENCES organizations (id),
    by_user TEXT,
    by_org TEXT,
    requested_us BIGINT NOT NULL,
    total BIGINT NOT NULL,
    -- JSON arrays of status details: objects refused at once, and those waiting.
    failures TEXT NOT NULL,
    pendings TEXT NOT NULL,
    envelope BYTEA NOT NULL,
    worker TEXT NOT NULL
);
