-- 0011: alerts, the outbox of a workflow's notify: (issue #22).
--
-- run_notify: a run's notify: targets, written with the run, so that the
-- transaction that records an event (the run's end in ApplyPlan, a task's
-- success with a notify effect in the completion) can write its alerts.
-- events is the list of events as ",failure,drift," (matched with LIKE).
CREATE TABLE run_notify (
    run_id  TEXT    NOT NULL REFERENCES runs (id),
    seq     INTEGER NOT NULL,
    events  TEXT    NOT NULL,
    webhook TEXT    NOT NULL,
    format  TEXT    NOT NULL CHECK (format IN ('json', 'slack')),
    PRIMARY KEY (run_id, seq)
);

-- alerts: one row per event and target, written in the event's
-- transaction. key is the idempotency key, the same on every delivery
-- (and unique: an event recorded twice writes one alert). A process that
-- delivers it claims it (claim_owner until claim_expires_at; attempts
-- counts the claims), then marks it sent, failed (a 4xx, or out of
-- attempts) or due again at next_at (a timeout, a 5xx). A claim that
-- expires (its process died mid-delivery) makes the alert due again: at
-- least once, never lost.
CREATE TABLE alerts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    key              TEXT    NOT NULL UNIQUE,
    run_id           TEXT    NOT NULL,
    workflow         TEXT    NOT NULL,
    event            TEXT    NOT NULL CHECK (event IN ('failure', 'success', 'gate_failed', 'drift')),
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
    done_at          INTEGER
);
CREATE INDEX alerts_due ON alerts (next_at) WHERE state = 'pending';
CREATE INDEX alerts_run ON alerts (run_id, id);
