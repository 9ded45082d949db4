-- 0004: the scheduler as a service (issue #16).
--
-- evaluations: the durable record that a run needs planning. Whatever makes
-- a run need planning (a completion not planned in its own transaction, a
-- cancel request, a retry coming due, a new run, an expired lease) inserts
-- one in the transaction that makes the change; the scheduler that owns the
-- run reads it (by id, which only grows: AUTOINCREMENT never reuses an id,
-- and SQLite commits one writer at a time, so ids appear in commit order),
-- plans, and deletes it. due_at is later than created_at for a retry that
-- waits for its backoff.
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

-- max_active_runs: the workflow's top-level max_active_runs: as the run was
-- created (0: no per-workflow cap); cairn server starts a queued run only
-- while fewer runs of its workflow are active.
ALTER TABLE runs ADD COLUMN max_active_runs INTEGER NOT NULL DEFAULT 0 CHECK (max_active_runs >= 0);

-- A scheduler renews all of its claims in one statement, and its pool
-- leases only the tasks of runs it owns.
CREATE INDEX runs_owner ON runs (owner, state);
