-- Objects made from an alert are few; TAXII objects, the many, have no alert. Indexing only
-- the rows that have one spares every TAXII write an index insertion (a lookup by alert,
-- `alert_id = x`, implies that it is not null, so both engines still use the index).
DROP INDEX stix_objects_alert;
CREATE INDEX stix_objects_alert ON stix_objects (alert_id) WHERE alert_id IS NOT NULL;

-- A held envelope is written once and read only after a crash: kept out of line without
-- compression, which would cost more time than the space it saves for so short a stay.
ALTER TABLE taxii_intake ALTER COLUMN envelope SET STORAGE EXTERNAL;
