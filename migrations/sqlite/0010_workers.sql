-- 0010: remote workers, routing and the leader lease (issue #21).
--
-- workers: the processes that lease tasks through a server's worker API
-- (`cairn worker`), one row per registration (a worker that restarts
-- registers again and gets a new id). id is issued by the server and is
-- what its leases carry in task_runs.lease_worker and attempts.worker, so
-- that a worker may act only on leases of its own id. A worker is live
-- while expires_at (its last call plus the lease TTL; the database's clock
-- on PostgreSQL) has not passed and its state is active or draining.
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
);
CREATE INDEX workers_live ON workers (state, expires_at);

-- Routing: what a task requires of the worker that leases it. labels is a
-- JSON object of strings (every pair must be among the worker's labels),
-- NULL for none; queue is the queue it waits in, '' the default one.
ALTER TABLE task_runs ADD COLUMN labels TEXT;
ALTER TABLE task_runs ADD COLUMN queue TEXT NOT NULL DEFAULT '';

-- A worker token is a role of its own: it may lease, heartbeat and
-- complete its own leases and move artifacts, nothing else. SQLite cannot
-- change a CHECK in place, so the table is rebuilt with its rows.
CREATE TABLE tokens_0010 (
    id           TEXT    NOT NULL PRIMARY KEY, -- public, shown in lists and the audit log
    hash         TEXT    NOT NULL UNIQUE,      -- hex sha256 of the secret
    role         TEXT    NOT NULL CHECK (role IN ('viewer', 'operator', 'admin', 'worker')),
    name         TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,                      -- NULL: never
    revoked_at   INTEGER,                      -- NULL: not revoked
    last_used_at INTEGER
);
INSERT INTO tokens_0010 (id, hash, role, name, created_at, expires_at, revoked_at, last_used_at)
    SELECT id, hash, role, name, created_at, expires_at, revoked_at, last_used_at FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_0010 RENAME TO tokens;

-- leader: which of the servers on one database runs what must run once
-- (cron, the lease reaper). One row per role (name). The holder keeps it
-- by moving expires_at on; another server takes it only once expires_at
-- has passed, adding one to epoch. epoch is the fencing token: a write
-- that only the leader may make carries the epoch it was elected with and
-- is refused when the row's epoch (or holder) differs, so a deposed leader
-- that has not noticed yet changes nothing.
CREATE TABLE leader (
    name        TEXT    NOT NULL PRIMARY KEY,
    holder      TEXT    NOT NULL,
    epoch       INTEGER NOT NULL CHECK (epoch >= 1),
    acquired_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
