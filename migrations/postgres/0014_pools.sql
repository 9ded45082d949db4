-- 0014: pools and priorities (mirrors sqlite/0014). A lease that may grant
-- a pool's slots locks the pool's row FOR UPDATE before it counts the
-- holders, so that leases of one pool in several processes take turns.
CREATE TABLE pools (
    name       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    size       BIGINT NOT NULL CHECK (size >= 1),
    source     TEXT COLLATE "C" NOT NULL CHECK (source IN ('server', 'workflow')),
    updated_at BIGINT NOT NULL
);

ALTER TABLE task_runs ADD COLUMN pool TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE task_runs ADD COLUMN pool_slots BIGINT NOT NULL DEFAULT 1 CHECK (pool_slots >= 1);
ALTER TABLE task_runs ADD COLUMN priority BIGINT NOT NULL DEFAULT 0;
ALTER TABLE task_runs ADD COLUMN ready_at BIGINT;

CREATE INDEX task_runs_pool ON task_runs (state, pool) WHERE pool != '';
CREATE INDEX task_runs_ready_priority ON task_runs (priority) WHERE priority != 0 AND state = 'ready';
