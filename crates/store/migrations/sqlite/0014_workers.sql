-- Job workers, so that a job held by a process that has stopped is taken over within seconds
-- rather than when its lease runs out. Each process picks a random id when it starts and
-- beats here every few seconds; one silent for three beats is taken to be gone.
CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    started_us INTEGER NOT NULL,
    heartbeat_us INTEGER NOT NULL
);

-- The worker that holds a job's lease, and when the latest attempt began (written and
-- committed before the e-mail is sent or the webhook called, so an attempt cut short by a
-- crash still shows).
ALTER TABLE jobs ADD COLUMN worker TEXT;
ALTER TABLE jobs ADD COLUMN attempted_us INTEGER;
