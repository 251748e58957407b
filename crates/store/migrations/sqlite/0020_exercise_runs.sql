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

-- The lessons-learned questionnaire: each participant organization's answer to each question
-- (a later answer replaces an earlier one).
CREATE TABLE exercise_lessons (
    run_id INTEGER NOT NULL REFERENCES exercise_runs (id),
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    user_name TEXT NOT NULL,
    real_us INTEGER NOT NULL,
    PRIMARY KEY (run_id, org_id, question)
);

-- Corrective actions of the improvement plan, followed to closure.
CREATE TABLE exercise_actions (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES exercise_runs (id),
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    title TEXT NOT NULL,
    assignee TEXT NOT NULL,
    due TEXT NOT NULL,
    closed_us INTEGER,
    created_by TEXT NOT NULL,
    created_us INTEGER NOT NULL
);
CREATE INDEX exercise_actions_org ON exercise_actions (org_id, closed_us);
CREATE INDEX exercise_actions_run ON exercise_actions (run_id);

-- Links to a run's after-action report that need no account: only the SHA-256 of the token
-- is kept; a link works until it expires or is revoked.
CREATE TABLE exercise_shares (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES exercise_runs (id),
    token_sha256 TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    expires_us INTEGER NOT NULL,
    revoked_us INTEGER
);
CREATE INDEX exercise_shares_run ON exercise_shares (run_id);
