-- Exercise runs: a scenario played over the real channels, its teams as resolved when it was
-- created, the injects sent, the answers to requests for information, and the alerts and
-- reports that belong to a run (kept out of real dashboards, counts and feeds).

CREATE TABLE exercise_runs (
    id INTEGER PRIMARY KEY,
    scenario_id TEXT NOT NULL,
    -- The scenario file as given, read again whenever the run is played.
    scenario TEXT NOT NULL,
    owner_org_id INTEGER NOT NULL REFERENCES organizations (id),
    created_by TEXT NOT NULL,
    -- scheduled, running, paused, cancelled or finished.
    state TEXT NOT NULL,
    speed INTEGER NOT NULL,
    starts_us INTEGER NOT NULL,
    -- Set for a run played by simulated participants (`ciphub exercise run --simulate`).
    seed INTEGER,
    ended_us INTEGER,
    -- The scores, as JSON, once the run has finished.
    scores TEXT,
    created_us INTEGER NOT NULL
);
CREATE INDEX exercise_runs_state ON exercise_runs (state, starts_us);
CREATE INDEX exercise_runs_owner ON exercise_runs (owner_org_id, created_us);

-- The spans of real time a run was running, and the exercise time each began at: the clock
-- that turns a real instant into exercise time.
CREATE TABLE exercise_spans (
    run_id INTEGER NOT NULL REFERENCES exercise_runs (id),
    real_start_us INTEGER NOT NULL,
    real_end_us INTEGER,
    exercise_start_us INTEGER NOT NULL,
    PRIMARY KEY (run_id, real_start_us)
);

CREATE TABLE exercise_members (
    run_id INTEGER NOT NULL REFERENCES exercise_runs (id),
    team TEXT NOT NULL,
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    PRIMARY KEY (run_id, team, org_id)
);
CREATE INDEX exercise_members_org ON exercise_members (org_id, run_id);

-- One row per inject sent: the primary key makes sending once the rule, across restarts and
-- servers.
CREATE TABLE exercise_sent (
    run_id INTEGER NOT NULL REFERENCES exercise_runs (id),
    inject TEXT NOT NULL,
    exercise_us INTEGER NOT NULL,
    real_us INTEGER NOT NULL,
    alert_id INTEGER REFERENCES alerts (id),
    report_id INTEGER REFERENCES reports (id),
    PRIMARY KEY (run_id, inject)
);

CREATE TABLE exercise_replies (
    run_id INTEGER NOT NULL REFERENCES exercise_runs (id),
    inject TEXT NOT NULL,
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    user_name TEXT NOT NULL,
    body TEXT NOT NULL,
    real_us INTEGER NOT NULL
);
CREATE INDEX exercise_replies_run ON exercise_replies (run_id, inject, org_id);

ALTER TABLE alerts ADD COLUMN exercise_run_id INTEGER REFERENCES exercise_runs (id);
ALTER TABLE alerts ADD COLUMN exercise_inject TEXT;
ALTER TABLE reports ADD COLUMN exercise_run_id INTEGER REFERENCES exercise_runs (id);
ALTER TABLE reports ADD COLUMN exercise_inject TEXT;
CREATE INDEX alerts_exercise_run ON alerts (exercise_run_id) WHERE exercise_run_id IS NOT NULL;
CREATE INDEX reports_exercise_run ON reports (exercise_run_id) WHERE exercise_run_id IS NOT NULL;
