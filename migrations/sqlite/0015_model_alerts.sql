-- 0015: per-model alerts (issue #22): a deploy's alerts: watched by the
-- leader while a rollout is active, delivered through the alerts outbox.
--
-- alerts: the event CHECK takes the per-model events; model and version
-- name a per-model alert's model version (run_id and workflow are '' for
-- it), value is what was measured and bound the alert's (seconds for a
-- latency). SQLite changes a CHECK only by copying the table.
CREATE TABLE alerts_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    key              TEXT    NOT NULL UNIQUE,
    run_id           TEXT    NOT NULL,
    workflow         TEXT    NOT NULL,
    event            TEXT    NOT NULL CHECK (event IN ('failure', 'success', 'gate_failed', 'drift', 'live_metric_below', 'p99_latency_above')),
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
    claim_owner, claim_expires_at, last_error, created_at, done_at)
SELECT id, key, run_id, workflow, event, task_id, detail, webhook, format, state, attempts, next_at,
    claim_owner, claim_expires_at, last_error, created_at, done_at FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;
CREATE INDEX alerts_due ON alerts (next_at) WHERE state = 'pending';
CREATE INDEX alerts_run ON alerts (run_id, id);

-- model_alert_state: whether a per-model alert's condition held at the
-- leader's last finding, per model version, alert (seq: its index in the
-- rollout's alerts) and event; fired counts the times it started to hold
-- (the alert's idempotency key has it), so that a condition that holds on
-- alerts once, and again only after it cleared.
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
