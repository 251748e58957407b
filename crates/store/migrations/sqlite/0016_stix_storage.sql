-- Objects made from an alert are few; TAXII objects, the many, have no alert. Indexing only
-- the rows that have one spares every TAXII write an index insertion (a lookup by alert,
-- `alert_id = x`, implies that it is not null, so both engines still use the index).
DROP INDEX stix_objects_alert;
CREATE INDEX stix_objects_alert ON stix_objects (alert_id) WHERE alert_id IS NOT NULL;
