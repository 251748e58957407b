-- Opaque ids: from this migration on, the store gives each new report (relayed copies
-- included), alert and incident a random id in [2^32, 2^53), so that the ids an organization
-- sees do not count what others file. Rows made before it keep their sequential ids: ids are
-- in URLs, e-mail, webhooks and STIX ids that others hold, so they are never rewritten. (The
-- identity columns stay, unused: the store always gives the id.)
--
-- `seq` is the order reports and alerts were made in, which lists, pages and exports follow as
-- they followed the ids before. It never leaves the store. Old rows take their id, which was
-- that order; new rows take the largest so far plus one (writers are serialized). Incidents
-- are never listed in order, so they need none.
ALTER TABLE reports ADD COLUMN seq BIGINT;
UPDATE reports SET seq = id;
ALTER TABLE reports ALTER COLUMN seq SET NOT NULL;
CREATE UNIQUE INDEX reports_seq ON reports (seq);

ALTER TABLE alerts ADD COLUMN seq BIGINT;
UPDATE alerts SET seq = id;
ALTER TABLE alerts ALTER COLUMN seq SET NOT NULL;
CREATE UNIQUE INDEX alerts_seq ON alerts (seq);

-- Which alerts the TAXII alerts collection already holds, looked up per alert.
CREATE INDEX stix_objects_alert ON stix_objects (alert_id);
