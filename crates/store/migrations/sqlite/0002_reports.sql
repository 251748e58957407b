-- Incident and outage reports (SQLite).

-- Identifiers an organization registers so that text naming it can be flagged before an
-- anonymous report is relayed: names, domains, e-mail addresses, host names, IP ranges.
CREATE TABLE org_identifiers (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (org_id, kind, value)
);

CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    title TEXT NOT NULL,
    created_us INTEGER NOT NULL
);

CREATE TABLE reports (
    id INTEGER PRIMARY KEY,
    reporter_org_id INTEGER NOT NULL REFERENCES organizations (id),
    reporter_user TEXT NOT NULL,
    formation TEXT NOT NULL,
    via_org_id INTEGER REFERENCES organizations (id),
    consent_us INTEGER,
    relay_of INTEGER REFERENCES reports (id),
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    cause TEXT NOT NULL,
    scope TEXT NOT NULL,
    detected_us INTEGER NOT NULL,
    occurred_us INTEGER,
    schema_id TEXT NOT NULL,
    answers TEXT NOT NULL,
    level INTEGER NOT NULL,
    emergency INTEGER NOT NULL,
    score REAL,
    tlp TEXT NOT NULL,
    stage TEXT NOT NULL,
    initial_us INTEGER NOT NULL,
    initial_due_us INTEGER NOT NULL,
    next_stage TEXT,
    next_due_us INTEGER,
    created_us INTEGER NOT NULL,
    updated_us INTEGER NOT NULL
);
CREATE INDEX reports_reporter ON reports (reporter_org_id, id);
CREATE INDEX reports_due ON reports (next_due_us);

CREATE TABLE report_sectors (
    report_id INTEGER NOT NULL REFERENCES reports (id),
    sector TEXT NOT NULL REFERENCES sectors (slug),
    PRIMARY KEY (report_id, sector)
);

CREATE TABLE report_services (
    report_id INTEGER NOT NULL REFERENCES reports (id),
    service TEXT NOT NULL REFERENCES services (slug),
    PRIMARY KEY (report_id, service)
);

CREATE TABLE report_stages (
    id INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES reports (id),
    stage TEXT NOT NULL,
    filed_us INTEGER NOT NULL,
    by_user TEXT NOT NULL,
    summary TEXT NOT NULL,
    level INTEGER NOT NULL
);
CREATE INDEX report_stages_report ON report_stages (report_id, id);

-- The receiving side's queue: one row per recipient organization, with its own triage.
CREATE TABLE report_recipients (
    report_id INTEGER NOT NULL REFERENCES reports (id),
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    reason TEXT NOT NULL,
    urgent INTEGER NOT NULL,
    added_us INTEGER NOT NULL,
    status TEXT NOT NULL,
    assignee TEXT,
    incident_id INTEGER REFERENCES incidents (id),
    PRIMARY KEY (report_id, org_id)
);
CREATE INDEX report_recipients_org ON report_recipients (org_id, status);

CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    report_id INTEGER NOT NULL REFERENCES reports (id),
    kind TEXT NOT NULL,
    -- The role the notification is for within the organization (duty: the 24/365 desk), or all.
    role TEXT,
    urgent INTEGER NOT NULL,
    created_us INTEGER NOT NULL,
    read_us INTEGER
);
CREATE INDEX notifications_org ON notifications (org_id, id);

-- A recipient's own notes on a report, seen only inside that organization.
CREATE TABLE report_notes (
    id INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES reports (id),
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    created_us INTEGER NOT NULL
);

-- Audit entries whose actor must stay hidden (acts on anonymous reports by their reporters).
ALTER TABLE audit_log ADD COLUMN restricted INTEGER NOT NULL DEFAULT 0;
