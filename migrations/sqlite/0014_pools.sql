-- 0014: pools and priorities (issue #23).
--
-- pools: named numbers of slots shared by every run on this database. A
-- task that names a pool (task_runs.pool) is leased only while the slots
-- of the pool's leased and running tasks, with its own, fit in size; the
-- lease counts them in its own transaction. source says who declared it:
-- 'server' (cairn server --pool NAME=SIZE), which wins, or 'workflow'
-- (a workflow's pools:, written when one of its runs is created).
CREATE TABLE pools (
    name       TEXT    NOT NULL PRIMARY KEY,
    size       INTEGER NOT NULL CHECK (size >= 1),
    source     TEXT    NOT NULL CHECK (source IN ('server', 'workflow')),
    updated_at INTEGER NOT NULL
);

-- A task's pool ('' for none), the slots it takes of it, its priority and
-- when it last became ready (NULL: never, or before this migration). The
-- lease queue goes by ready_at less a minute per point of priority when
-- some ready task has a priority (cairn.QueueKey), else by ready_gen.
ALTER TABLE task_runs ADD COLUMN pool TEXT NOT NULL DEFAULT '';
ALTER TABLE task_runs ADD COLUMN pool_slots INTEGER NOT NULL DEFAULT 1 CHECK (pool_slots >= 1);
ALTER TABLE task_runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE task_runs ADD COLUMN ready_at INTEGER;

-- A pool's holders (state leased or running) and whether it has ready
-- tasks, counted or probed at every lease of a pooled task; whether any
-- ready task has a priority: index seeks, so that the lease of a workflow
-- without them costs what it did.
CREATE INDEX task_runs_pool ON task_runs (state, pool) WHERE pool != '';
CREATE INDEX task_runs_ready_priority ON task_runs (priority) WHERE priority != 0 AND state = 'ready';
