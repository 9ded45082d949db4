-- 0001: runs, task runs, attempts.
--
-- Times are INTEGER Unix nanoseconds (UTC); NULL is the zero time.
-- JSON values are TEXT; NULL is a nil map or value.
-- Terminal states are kept terminal by the store's compare-and-set updates
-- (each names the row's current, non-terminal state), not by triggers,
-- which cost about 10% of the lease/complete hot path.

CREATE TABLE runs (
    id               TEXT    NOT NULL PRIMARY KEY,
    workflow         TEXT    NOT NULL,
    digest           TEXT    NOT NULL DEFAULT '',
    source_path      TEXT    NOT NULL DEFAULT '',
    source           BLOB,
    params           TEXT,
    state            TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    max_active       INTEGER NOT NULL DEFAULT 0 CHECK (max_active >= 0),
    cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    error            TEXT    NOT NULL DEFAULT '',
    created_at       INTEGER,
    started_at       INTEGER,
    finished_at      INTEGER,
    owner            TEXT    NOT NULL DEFAULT '',
    owner_expires_at INTEGER,
    version          INTEGER NOT NULL CHECK (version >= 1)
);

-- ListRuns: newest first (ids sort by creation time), optionally by
-- workflow or state.
CREATE INDEX runs_workflow_id ON runs (workflow, id);
CREATE INDEX runs_state_id ON runs (state, id);

CREATE TABLE task_runs (
    run_id           TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    task_id          TEXT    NOT NULL,
    seq              INTEGER NOT NULL, -- creation order within the run
    type             TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'ready', 'leased', 'running', 'retrying',
                                                       'succeeded', 'failed', 'skipped', 'upstream_failed', 'cancelled')),
    attempt          INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    retries          INTEGER NOT NULL DEFAULT 0,
    backoff_ns       INTEGER NOT NULL DEFAULT 0,
    backoff_factor   REAL    NOT NULL DEFAULT 0,
    max_backoff_ns   INTEGER NOT NULL DEFAULT 0,
    timeout_ns       INTEGER NOT NULL DEFAULT 0,
    params           TEXT,
    inputs           TEXT,
    outputs          TEXT,
    metrics          TEXT,
    error            TEXT    NOT NULL DEFAULT '',
    retry_at         INTEGER,
    -- ready_gen orders the lease queue: every transaction that makes tasks
    -- ready gives them one generation, greater than that of any task already
    -- ready; leases go by (ready_gen, run_id, seq). NULL unless ready.
    ready_gen        INTEGER,
    -- Lease columns are set exactly while the state is leased or running.
    lease_token      TEXT,
    lease_worker     TEXT,
    lease_expires_at INTEGER,
    started_at       INTEGER,
    finished_at      INTEGER,
    version          INTEGER NOT NULL CHECK (version >= 1),
    PRIMARY KEY (run_id, task_id),
    UNIQUE (run_id, seq),
    CHECK ((state IN ('leased', 'running')) = (lease_token IS NOT NULL))
);

-- The lease queue, globally and per run.
CREATE INDEX task_runs_ready ON task_runs (ready_gen, run_id, seq) WHERE state = 'ready';
CREATE INDEX task_runs_ready_run ON task_runs (run_id, ready_gen, seq) WHERE state = 'ready';
-- The reaper's scans and a run's active leases.
CREATE INDEX task_runs_lease_expiry ON task_runs (lease_expires_at) WHERE lease_token IS NOT NULL;
CREATE INDEX task_runs_lease_run ON task_runs (run_id, lease_expires_at) WHERE lease_token IS NOT NULL;

CREATE TABLE attempts (
    run_id      TEXT    NOT NULL,
    task_id     TEXT    NOT NULL,
    number      INTEGER NOT NULL CHECK (number >= 1),
    state       TEXT    NOT NULL,
    worker      TEXT    NOT NULL DEFAULT '',
    token       TEXT    NOT NULL,
    started_at  INTEGER,
    running_at  INTEGER,
    finished_at INTEGER,
    error       TEXT    NOT NULL DEFAULT '',
    stack       TEXT    NOT NULL DEFAULT '',
    retryable   INTEGER NOT NULL DEFAULT 0 CHECK (retryable IN (0, 1)),
    exit_code   INTEGER,
    PRIMARY KEY (run_id, task_id, number),
    FOREIGN KEY (run_id, task_id) REFERENCES task_runs (run_id, task_id) ON DELETE CASCADE
) WITHOUT ROWID;
