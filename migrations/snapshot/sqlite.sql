-- version 26
-- The SQLite schema that the migrations up to 0026_task_runs_state_check.sql make, made by
-- go test ./store/sqlite -run TestSchemaSnapshot -update: do not edit.
CREATE TABLE schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
);
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
, max_active_runs INTEGER NOT NULL DEFAULT 0 CHECK (max_active_runs >= 0), reproduce_of TEXT NOT NULL DEFAULT '', "trigger" TEXT NOT NULL DEFAULT 'manual'
    CHECK ("trigger" IN ('manual', 'api', 'cron', 'backfill')), scheduled_for INTEGER);
CREATE INDEX runs_workflow_id ON runs (workflow, id);
CREATE INDEX runs_state_id ON runs (state, id);
CREATE TABLE task_runs (
    run_id           TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    task_id          TEXT    NOT NULL,
    seq              INTEGER NOT NULL, -- creation order within the run
    type             TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state = 'pending' OR state = 'ready' OR state = 'leased' OR state = 'running' OR state = 'retrying'
                                                       OR state = 'succeeded' OR state = 'failed' OR state = 'skipped'
                                                       OR state = 'upstream_failed' OR state = 'cancelled'),
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
    version          INTEGER NOT NULL CHECK (version >= 1), max_interruptions INTEGER NOT NULL DEFAULT 0 CHECK (max_interruptions >= 0), interrupted INTEGER NOT NULL DEFAULT 0 CHECK (interrupted >= 0), interrupted_streak INTEGER NOT NULL DEFAULT 0 CHECK (interrupted_streak >= 0), round INTEGER NOT NULL DEFAULT 0 CHECK (round >= 0), failed_before INTEGER NOT NULL DEFAULT 0 CHECK (failed_before >= 0), attempt_started_at INTEGER, attempt_running_at INTEGER, cache INTEGER NOT NULL DEFAULT 0 CHECK (cache IN (0, 1)), labels TEXT, queue TEXT NOT NULL DEFAULT '', item TEXT, items INTEGER CHECK (items >= 0), pool TEXT NOT NULL DEFAULT '', pool_slots INTEGER NOT NULL DEFAULT 1 CHECK (pool_slots >= 1), priority INTEGER NOT NULL DEFAULT 0, ready_at INTEGER, attempt_due_at INTEGER, hold_until INTEGER,
    PRIMARY KEY (run_id, task_id),
    UNIQUE (run_id, seq),
    CHECK ((state IN ('leased', 'running')) = (lease_token IS NOT NULL))
);
CREATE INDEX task_runs_ready ON task_runs (ready_gen, run_id, seq) WHERE state = 'ready';
CREATE INDEX task_runs_ready_run ON task_runs (run_id, ready_gen, seq) WHERE state = 'ready';
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
    exit_code   INTEGER, plugin TEXT NOT NULL DEFAULT '', type TEXT NOT NULL DEFAULT '', version TEXT NOT NULL DEFAULT '', params TEXT, outputs TEXT, metrics TEXT, cache_key TEXT NOT NULL DEFAULT '', cached_run TEXT NOT NULL DEFAULT '', cached_task TEXT NOT NULL DEFAULT '', cached_attempt INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, task_id, number),
    FOREIGN KEY (run_id, task_id) REFERENCES task_runs (run_id, task_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE evaluations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    reason     TEXT    NOT NULL,
    task_id    TEXT    NOT NULL DEFAULT '',
    -- the scheduler process that wrote it and already knows of the change
    writer     TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    due_at     INTEGER NOT NULL
);
CREATE INDEX evaluations_run ON evaluations (run_id, id);
CREATE INDEX runs_owner ON runs (owner, state);
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL, -- a token id, or "cli:USER@HOST" for a local command
    action  TEXT    NOT NULL, -- trigger, cancel, retry, resume, token.create, token.revoke, ...
    run_id  TEXT    NOT NULL DEFAULT '',
    task_id TEXT    NOT NULL DEFAULT '',
    detail  TEXT    NOT NULL DEFAULT '' -- JSON object, or ''
);
CREATE INDEX audit_run ON audit (run_id, id);
CREATE INDEX attempts_cache ON attempts (cache_key, finished_at) WHERE cache_key != '' AND state = 'succeeded';
CREATE TABLE artifacts (
    digest      TEXT    NOT NULL PRIMARY KEY CHECK (digest GLOB 'sha256:*'),
    size        INTEGER NOT NULL CHECK (size >= 0),
    media_type  TEXT    NOT NULL DEFAULT '',
    run_id      TEXT    NOT NULL DEFAULT '', -- first producer; '' when first seen as an input
    task_id     TEXT    NOT NULL DEFAULT '',
    attempt     INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE lineage (
    run_id    TEXT    NOT NULL,
    task_id   TEXT    NOT NULL,
    attempt   INTEGER NOT NULL,
    direction TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
    port      TEXT    NOT NULL,
    digest    TEXT    NOT NULL REFERENCES artifacts (digest),
    PRIMARY KEY (run_id, task_id, attempt, direction, port),
    FOREIGN KEY (run_id, task_id, attempt) REFERENCES attempts (run_id, task_id, number) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX lineage_digest ON lineage (digest, direction);
CREATE TABLE models (
    name             TEXT    NOT NULL,
    version          INTEGER NOT NULL CHECK (version >= 1),
    digest           TEXT    NOT NULL REFERENCES artifacts (digest),
    stage            TEXT    NOT NULL CHECK (stage IN ('candidate', 'production', 'archived')),
    metrics          TEXT,             -- JSON object of numbers, or NULL
    report           TEXT,             -- the evaluation report's artifact reference (JSON), or NULL
    run_id           TEXT    NOT NULL, -- the attempt that registered it
    task_id          TEXT    NOT NULL,
    attempt          INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    stage_changed_at INTEGER NOT NULL,
    PRIMARY KEY (name, version),
    UNIQUE (name, digest)
) WITHOUT ROWID;
CREATE UNIQUE INDEX models_production ON models (name) WHERE stage = 'production';
CREATE TABLE model_stages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    from_stage TEXT    NOT NULL DEFAULT '', -- '' when the version was registered
    to_stage   TEXT    NOT NULL,
    reason     TEXT    NOT NULL CHECK (reason IN ('deploy', 'promote', 'rollback')),
    actor      TEXT    NOT NULL DEFAULT '', -- a token id, "cli:USER@HOST", or RUN/TASK for a deploy
    at         INTEGER NOT NULL,
    FOREIGN KEY (name, version) REFERENCES models (name, version)
);
CREATE INDEX model_stages_name ON model_stages (name, id);
CREATE UNIQUE INDEX runs_slot ON runs (workflow, scheduled_for) WHERE scheduled_for IS NOT NULL;
CREATE TABLE schedules (
    workflow   TEXT    NOT NULL PRIMARY KEY,
    spec       TEXT    NOT NULL,
    position   INTEGER NOT NULL,
    paused     INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    updated_at INTEGER NOT NULL,
    version    INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1)
);
CREATE TABLE workers (
    id            TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL DEFAULT '', -- what it calls itself (--name, or its host name)
    host          TEXT    NOT NULL DEFAULT '',
    token_id      TEXT    NOT NULL DEFAULT '', -- the worker token it registered with
    version       TEXT    NOT NULL DEFAULT '', -- its cairn version
    protocol      INTEGER NOT NULL CHECK (protocol >= 1),
    labels        TEXT,                        -- JSON object of strings, or NULL: none
    queues        TEXT,                        -- JSON array of queue names, or NULL: the default queue only
    concurrency   INTEGER NOT NULL DEFAULT 1 CHECK (concurrency >= 1),
    state         TEXT    NOT NULL CHECK (state IN ('active', 'draining', 'stopped', 'lost')),
    registered_at INTEGER NOT NULL,
    seen_at       INTEGER NOT NULL,            -- its last lease, heartbeat or completion
    expires_at    INTEGER NOT NULL
, types TEXT);
CREATE INDEX workers_live ON workers (state, expires_at);
CREATE TABLE "tokens" (
    id           TEXT    NOT NULL PRIMARY KEY, -- public, shown in lists and the audit log
    hash         TEXT    NOT NULL UNIQUE,      -- hex sha256 of the secret
    role         TEXT    NOT NULL CHECK (role IN ('viewer', 'operator', 'admin', 'worker')),
    name         TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,                      -- NULL: never
    revoked_at   INTEGER,                      -- NULL: not revoked
    last_used_at INTEGER
);
CREATE TABLE leader (
    name        TEXT    NOT NULL PRIMARY KEY,
    holder      TEXT    NOT NULL,
    epoch       INTEGER NOT NULL CHECK (epoch >= 1),
    acquired_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE TABLE run_notify (
    run_id  TEXT    NOT NULL REFERENCES runs (id),
    seq     INTEGER NOT NULL,
    events  TEXT    NOT NULL,
    webhook TEXT    NOT NULL,
    format  TEXT    NOT NULL CHECK (format IN ('json', 'slack')),
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE rollouts (
    name       TEXT    PRIMARY KEY,
    strategy   TEXT    NOT NULL CHECK (strategy IN ('canary', 'shadow', 'ab')),
    spec       TEXT    NOT NULL,
    baseline   INTEGER NOT NULL,
    candidate  INTEGER NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN ('active', 'promoted', 'rolled_back')),
    share      INTEGER NOT NULL CHECK (share BETWEEN 0 AND 100),
    step       INTEGER NOT NULL,
    step_at    INTEGER NOT NULL,
    reason     TEXT    NOT NULL DEFAULT '',
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
, paused INTEGER NOT NULL DEFAULT 0);
CREATE TABLE model_requests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id  TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    shadow      INTEGER NOT NULL DEFAULT 0,
    at          INTEGER NOT NULL,
    duration_us INTEGER NOT NULL,
    failed      INTEGER NOT NULL DEFAULT 0,
    rows        INTEGER NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('classification', 'regression')),
    predictions TEXT,
    labeled     INTEGER NOT NULL DEFAULT 0,
    score       REAL    NOT NULL DEFAULT 0, shadow_version INTEGER NOT NULL DEFAULT 0, shadow_duration_us INTEGER NOT NULL DEFAULT 0, shadow_failed INTEGER NOT NULL DEFAULT 0, shadow_kind TEXT NOT NULL DEFAULT '', shadow_predictions TEXT, shadow_labeled INTEGER NOT NULL DEFAULT 0, shadow_score REAL NOT NULL DEFAULT 0,
    UNIQUE (request_id, version)
);
CREATE INDEX model_requests_at ON model_requests (name, at);
CREATE TABLE pools (
    name       TEXT    NOT NULL PRIMARY KEY,
    size       INTEGER NOT NULL CHECK (size >= 1),
    source     TEXT    NOT NULL CHECK (source IN ('server', 'workflow')),
    updated_at INTEGER NOT NULL
);
CREATE INDEX task_runs_pool ON task_runs (state, pool) WHERE pool != '';
CREATE INDEX task_runs_ready_priority ON task_runs (priority) WHERE priority != 0 AND state = 'ready';
CREATE TABLE model_alert_state (
    name       TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    event      TEXT    NOT NULL,
    holds      INTEGER NOT NULL,
    fired      INTEGER NOT NULL,
    changed_at INTEGER NOT NULL,
    PRIMARY KEY (name, version, seq, event)
);
CREATE TABLE run_sources (
    run_id TEXT NOT NULL REFERENCES runs (id),
    path   TEXT NOT NULL,
    source BLOB NOT NULL,
    PRIMARY KEY (run_id, path)
);
CREATE TABLE "rollout_events" (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    name      TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    event     TEXT    NOT NULL CHECK (event IN ('start', 'step', 'promote', 'rollback', 'pause', 'resume', 'share')),
    share     INTEGER NOT NULL,
    baseline  INTEGER NOT NULL,
    candidate INTEGER NOT NULL,
    detail    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX rollout_events_name ON rollout_events (name, id);
CREATE TABLE model_minutes (
    name     TEXT    NOT NULL,
    version  INTEGER NOT NULL,
    minute   INTEGER NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    failed   INTEGER NOT NULL DEFAULT 0,
    rows     INTEGER NOT NULL DEFAULT 0,
    p99_us   INTEGER NOT NULL DEFAULT 0,
    kind     TEXT    NOT NULL DEFAULT '',
    dist     TEXT    NOT NULL DEFAULT '',
    labeled  INTEGER NOT NULL DEFAULT 0,
    score    REAL    NOT NULL DEFAULT 0,
    PRIMARY KEY (name, version, minute)
);
CREATE TABLE model_alerts (
    name       TEXT    PRIMARY KEY,
    alerts     TEXT    NOT NULL,
    gen        INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    actor      TEXT    NOT NULL DEFAULT ''
);
CREATE VIEW model_requests_all AS
SELECT id, request_id, name, version, shadow, at, duration_us, failed, rows, kind, predictions, labeled, score FROM model_requests
UNION ALL
SELECT id, request_id, name, shadow_version, 1, at, shadow_duration_us, shadow_failed, rows, shadow_kind, shadow_predictions, shadow_labeled, shadow_score
FROM model_requests WHERE shadow_version != 0;
CREATE TABLE "alerts" (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    key              TEXT    NOT NULL UNIQUE,
    run_id           TEXT    NOT NULL,
    workflow         TEXT    NOT NULL,
    event            TEXT    NOT NULL CHECK (event IN ('failure', 'success', 'gate_failed', 'drift', 'live_metric_below', 'p99_latency_above', 'drift_above')),
    task_id          TEXT    NOT NULL DEFAULT '',
    detail           TEXT    NOT NULL DEFAULT '',
    webhook          TEXT    NOT NULL,
    format           TEXT    NOT NULL CHECK (format IN ('json', 'slack')),
    state            TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_at          INTEGER NOT NULL,
    claim_owner      TEXT    NOT NULL DEFAULT '',
    claim_expires_at INTEGER,
    last_error       TEXT    NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    done_at          INTEGER,
    model            TEXT    NOT NULL DEFAULT '',
    version          INTEGER NOT NULL DEFAULT 0,
    value            REAL    NOT NULL DEFAULT 0,
    bound            REAL    NOT NULL DEFAULT 0
);
CREATE INDEX alerts_due ON alerts (next_at) WHERE state = 'pending';
CREATE INDEX alerts_run ON alerts (run_id, id);
CREATE INDEX alerts_model ON alerts (model, id) WHERE model != '';
CREATE TABLE served_rows (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    name    TEXT    NOT NULL,
    version INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    row     TEXT    NOT NULL
);
CREATE INDEX served_rows_version ON served_rows (name, version, id);
CREATE TABLE model_drift (
    name    TEXT    NOT NULL,
    version INTEGER NOT NULL,
    value   REAL    NOT NULL,
    feature TEXT    NOT NULL DEFAULT '',
    rows    INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    error   TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (name, version)
);
CREATE INDEX runs_id_small ON runs (id, owner, cancel_requested);
CREATE INDEX task_runs_pool_hold ON task_runs (pool, hold_until) WHERE hold_until IS NOT NULL;
