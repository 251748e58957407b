-- Secrets of the instance, made once and shared by every server process on the database: the
-- key that seals TAXII `next` cursors, so a cursor tells its holder nothing about what others
-- stored. Readable by whoever operates the database, like everything else in it.
CREATE TABLE instance_secrets (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL
);
