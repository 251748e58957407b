-- Alerts and their delivery to each recipient organization (SQLite).

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    sender_org_id INTEGER NOT NULL REFERENCES organizations (id),
    sender_user TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    tlp TEXT NOT NULL,
    -- The audience as sent (JSON): scope and roles.
    audience TEXT NOT NULL,
    clients_permitted INTEGER NOT NULL,
    ack_within_us INTEGER,
    exercise INTEGER NOT NULL,
    -- Report ids the alert refers to (JSON array).
    reports TEXT NOT NULL,
    relay_of INTEGER REFERENCES alerts (id),
    relay_note TEXT,
    created_us INTEGER NOT NULL
);
CREATE INDEX alerts_sender ON alerts (sender_org_id, id);

-- One row per recipient organization: delivered, read, acknowledged (by whom, when).
CREATE TABLE alert_deliveries (
    alert_id INTEGER NOT NULL REFERENCES alerts (id),
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    delivered_us INTEGER NOT NULL,
    read_us INTEGER,
    read_by TEXT,
    acked_us INTEGER,
    acked_by TEXT,
    PRIMARY KEY (alert_id, org_id)
);
CREATE INDEX alert_deliveries_org ON alert_deliveries (org_id, alert_id);

-- A CEPTOAR's rule to pass alerts for its sector on to all its members automatically.
CREATE TABLE relay_rules (
    org_id INTEGER PRIMARY KEY REFERENCES organizations (id),
    enabled INTEGER NOT NULL,
    note TEXT NOT NULL
);
