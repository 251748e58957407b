-- A row the health check writes and deletes again after a write failed for want of space or
-- on an I/O error, to learn whether the store can write again.
CREATE TABLE health_probe (
    id INTEGER PRIMARY KEY,
    filler TEXT NOT NULL
);
