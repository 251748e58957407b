-- Channels beyond the inbox: contacts, webhooks, attachments, in-app notices, and the job
-- queue (outbox) that sends e-mail, calls webhooks and escalates unacknowledged alerts (SQLite).

-- Whom an organization wants told by e-mail: rank 1 first, rank 2 the second contact that
-- escalation turns to.
CREATE TABLE org_contacts (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    rank INTEGER NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    UNIQUE (org_id, email)
);
CREATE INDEX org_contacts_org ON org_contacts (org_id, rank);

-- An organization's endpoints for signed alert events.
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    deleted_us INTEGER
);
CREATE INDEX webhooks_org ON webhooks (org_id);

-- Files sent with an alert (copied to the alerts that pass it on).
CREATE TABLE alert_attachments (
    alert_id INTEGER NOT NULL REFERENCES alerts (id),
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    content BLOB NOT NULL,
    PRIMARY KEY (alert_id, position)
);

-- In-app notices about alerts: reminders to recipients, escalations to overseers.
CREATE TABLE alert_notices (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    alert_id INTEGER NOT NULL REFERENCES alerts (id),
    kind TEXT NOT NULL,
    -- The organization the notice is about (the one that has not acknowledged).
    about_org_id INTEGER NOT NULL REFERENCES organizations (id),
    created_us INTEGER NOT NULL,
    UNIQUE (org_id, alert_id, kind, about_org_id)
);
CREATE INDEX alert_notices_org ON alert_notices (org_id, id);

-- Work to do later, written in the same transaction as what caused it. One row per
-- (kind, alert, organization, target, step) makes every job idempotent.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    -- email, webhook or escalate.
    kind TEXT NOT NULL,
    alert_id INTEGER NOT NULL REFERENCES alerts (id),
    -- The organization concerned (0: none).
    org_id INTEGER NOT NULL,
    -- email: the contact rank; webhook: the webhook id (0: none).
    target INTEGER NOT NULL,
    -- 0: delivery; 1, 2, 3: the escalation steps.
    step INTEGER NOT NULL,
    due_us INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    -- pending, done or dead.
    state TEXT NOT NULL,
    -- A worker holds the job until this time; after it, another may take it.
    lease_us INTEGER,
    last_error TEXT,
    updated_us INTEGER NOT NULL,
    UNIQUE (kind, alert_id, org_id, target, step)
);
CREATE INDEX jobs_due ON jobs (state, due_us);
CREATE INDEX jobs_target ON jobs (kind, target, id);

-- Incidents (of the sender's organization) an alert refers to (JSON array).
ALTER TABLE alerts ADD COLUMN incidents TEXT NOT NULL DEFAULT '[]';
