-- The incidents page lists an organization's incidents newest first, with how many reports
-- each groups.
CREATE INDEX incidents_org_created ON incidents (org_id, created_us);
CREATE INDEX report_recipients_incident ON report_recipients (incident_id);
