-- Correlation: each observable value found in a report, an alert or a STIX object, with what
-- the access policy needs to decide who sees the link. An item's values are replaced whole
-- when it changes; `item` is 'report:<id>', 'alert:<id>' or 'stix:<collection>:<object id>'.
CREATE TABLE correlation_values (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    item TEXT NOT NULL,
    -- The organization that reported, sent or shared the item (counted, never shown).
    org_id INTEGER NOT NULL,
    -- The sectors the item concerns, comma-separated.
    sectors TEXT NOT NULL,
    exercise INTEGER NOT NULL,
    added_us INTEGER NOT NULL,
    PRIMARY KEY (kind, value, item)
);
CREATE INDEX correlation_values_item ON correlation_values (item);

-- How far the indexer has read each source: reports by (updated_us, id), alerts by id and STIX
-- objects by seq.
CREATE TABLE correlation_cursors (
    source TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    tiebreak INTEGER NOT NULL
);
