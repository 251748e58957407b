-- The events live streams show (alerts, notices, acknowledgements), written in the same
-- transaction as the change, so that a stream that reconnects with the last id it received
-- reads what it missed. The id is the event's position: at least the writing transaction's
-- time in microseconds since the epoch and greater than every earlier id (writers are
-- serialized), so it orders events without counting them. Rows older than a week are pruned.
CREATE TABLE stream_events (
    id INTEGER PRIMARY KEY,
    -- The event as it is sent with pg_notify (`Event`'s text form).
    event TEXT NOT NULL
);
