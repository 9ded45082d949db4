-- 0001: runs, task runs, attempts (PostgreSQL; mirrors sqlite/0001_init.sql).
--
-- The encodings are SQLite's, so that both stores read and write the same
-- values and a database can be copied from one to the other as it is:
-- times are BIGINT Unix nanoseconds (UTC), NULL the zero time; JSON values
-- are TEXT (not jsonb: the store writes and reads them whole, and keeps
-- the bytes it was given); flags are BIGINT 0 or 1. Text that is
-- compared or ordered is COLLATE "C": by bytes, as SQLite orders it (run
-- ids sort by creation time), whatever the database's default collation. store/postgres's
-- TestSchemasInStep compares this schema with SQLite's.

CREATE TABLE runs (
    id               TEXT COLLATE "C"    NOT NULL PRIMARY KEY,
    workflow         TEXT COLLATE "C"    NOT NULL,
    digest           TEXT COLLATE "C"    NOT NULL DEFAULT '',
    source_path      TEXT COLLATE "C"    NOT NULL DEFAULT '',
    source           BYTEA,
    params           TEXT,
    state            TEXT COLLATE "C"    NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    max_active       BIGINT  NOT NULL DEFAULT 0 CHECK (max_active >= 0),
    cancel_requested BIGINT  NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    error            TEXT COLLATE "C"    NOT NULL DEFAULT '',
    created_at       BIGINT,
    started_at       BIGINT,
    finished_at      BIGINT,
    owner            TEXT COLLATE "C"    NOT NULL DEFAULT '',
    owner_expires_at BIGINT,
    version          BIGINT  NOT NULL CHECK (version >= 1)
);

CREATE INDEX runs_workflow_id ON runs (workflow, id);
CREATE INDEX runs_state_id ON runs (state, id);

CREATE TABLE task_runs (
    run_id           TEXT COLLATE "C"    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    task_id          TEXT COLLATE "C"    NOT NULL,
    seq              BIGINT  NOT NULL, -- creation order within the run
    type             TEXT COLLATE "C"    NOT NULL,
    state            TEXT COLLATE "C"    NOT NULL CHECK (state IN ('pending', 'ready', 'leased', 'running', 'retrying',
                                                       'succeeded', 'failed', 'skipped', 'upstream_failed', 'cancelled')),
    attempt          BIGINT  NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    retries          BIGINT  NOT NULL DEFAULT 0,
    backoff_ns       BIGINT  NOT NULL DEFAULT 0,
    backoff_factor   DOUBLE PRECISION NOT NULL DEFAULT 0,
    max_backoff_ns   BIGINT  NOT NULL DEFAULT 0,
    timeout_ns       BIGINT  NOT NULL DEFAULT 0,
    params           TEXT,
    inputs           TEXT,
    outputs          TEXT,
    metrics          TEXT,
    error            TEXT COLLATE "C"    NOT NULL DEFAULT '',
    retry_at         BIGINT,
    -- ready_gen orders the lease queue: every transaction that makes tasks
    -- ready gives them one generation from the sequence task_runs_ready_gen
    -- (never max()+1: writers are concurrent), so greater than that of any
    -- task already ready; leases go by (ready_gen, run_id, seq). NULL
    -- unless ready.
    ready_gen        BIGINT,
    lease_token      TEXT,
    lease_worker     TEXT,
    lease_expires_at BIGINT,
    started_at       BIGINT,
    finished_at      BIGINT,
    version          BIGINT  NOT NULL CHECK (version >= 1),
    PRIMARY KEY (run_id, task_id),
    UNIQUE (run_id, seq),
    CHECK ((state IN ('leased', 'running')) = (lease_token IS NOT NULL))
);
CREATE SEQUENCE task_runs_ready_gen;

CREATE INDEX task_runs_ready ON task_runs (ready_gen, run_id, seq) WHERE state = 'ready';
CREATE INDEX task_runs_ready_run ON task_runs (run_id, ready_gen, seq) WHERE state = 'ready';
CREATE INDEX task_runs_lease_expiry ON task_runs (lease_expires_at) WHERE lease_token IS NOT NULL;
CREATE INDEX task_runs_lease_run ON task_runs (run_id, lease_expires_at) WHERE lease_token IS NOT NULL;

CREATE TABLE attempts (
    run_id      TEXT COLLATE "C"    NOT NULL,
    task_id     TEXT COLLATE "C"    NOT NULL,
    number      BIGINT  NOT NULL CHECK (number >= 1),
    state       TEXT COLLATE "C"    NOT NULL,
    worker      TEXT COLLATE "C"    NOT NULL DEFAULT '',
    token       TEXT COLLATE "C"    NOT NULL,
    started_at  BIGINT,
    running_at  BIGINT,
    finished_at BIGINT,
    error       TEXT COLLATE "C"    NOT NULL DEFAULT '',
    stack       TEXT COLLATE "C"    NOT NULL DEFAULT '',
    retryable   BIGINT  NOT NULL DEFAULT 0 CHECK (retryable IN (0, 1)),
    exit_code   BIGINT,
    PRIMARY KEY (run_id, task_id, number),
    FOREIGN KEY (run_id, task_id) REFERENCES task_runs (run_id, task_id) ON DELETE CASCADE
);
