-- 0024: a cancelled attempt keeps its pool slots until its process is
-- gone (trial finding 10). A run's cancel moves its running tasks to
-- cancelled at once, while their processes still run: up to a heartbeat
-- on a remote worker (which then kills), up to kill_grace locally. The
-- task's lease ends with the change (the lease columns are set exactly
-- while leased or running); hold_until keeps, on a pooled task cancelled
-- while running, when its lease would have expired: its slots stay held
-- until then, or until its attempt's refused completion (the process
-- reaped) clears it; the worker's heartbeats renew it meanwhile. NULL:
-- no hold.
ALTER TABLE task_runs ADD COLUMN hold_until INTEGER;

-- The live holds of a pool, counted at every lease of a pooled task: a
-- range of the few rows with a hold.
CREATE INDEX task_runs_pool_hold ON task_runs (pool, hold_until) WHERE hold_until IS NOT NULL;
