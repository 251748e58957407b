-- The copies relayed from a report (or an alert) are looked up for every report a reporter or
-- a secretariat lists; without an index each lookup read the whole table, so a page of 50
-- cost 50 scans and grew with every report stored. Only relayed copies have a source.
CREATE INDEX reports_relay_of ON reports (relay_of) WHERE relay_of IS NOT NULL;
CREATE INDEX alerts_relay_of ON alerts (relay_of) WHERE relay_of IS NOT NULL;
