-- 0021: per-model drift alerts (issue #22).
--
-- alerts: the event CHECK takes drift_above (SQLite changes a CHECK only
-- by copying the table); alerts_model lists a model's alerts (its page).
CREATE TABLE alerts_new (
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
INSERT INTO alerts_new (id, key, run_id, workflow, event, task_id, detail, webhook, format, state, attempts, next_at,
    claim_owner, claim_expires_at, last_error, created_at, done_at, model, version, value, bound)
SELECT id, key, run_id, workflow, event, task_id, detail, webhook, format, state, attempts, next_at,
    claim_owner, claim_expires_at, last_error, created_at, done_at, model, version, value, bound FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;
CREATE INDEX alerts_due ON alerts (next_at) WHERE state = 'pending';
CREATE INDEX alerts_run ON alerts (run_id, id);
CREATE INDEX alerts_model ON alerts (model, id) WHERE model != '';

-- served_rows: the rows serving sampled from prediction requests (the
-- JSON object of a row's input columns), per model version, written in
-- batches by whichever replica served them. A write keeps at most its
-- bound of rows per version, deleting the oldest in the same transaction.
-- at is in nanoseconds since the epoch.
CREATE TABLE served_rows (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    name    TEXT    NOT NULL,
    version INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    row     TEXT    NOT NULL
);
CREATE INDEX served_rows_version ON served_rows (name, version, id);

-- model_drift: the drift the leader last measured of a model version's
-- served rows from its training data (the largest PSI of its features, and
-- that feature), for /metrics and the models page; error says why none
-- could be measured.
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
