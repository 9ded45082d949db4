-- 0024: a cancelled attempt keeps its pool slots until its process is
-- gone (mirrors sqlite/0024): hold_until, on a pooled task cancelled
-- while running, is when its lease would have expired (on the database's
-- clock, as lease_expires_at); the attempt's refused completion clears
-- it, its worker's heartbeats renew it. NULL: no hold.
ALTER TABLE task_runs ADD COLUMN hold_until BIGINT;

CREATE INDEX task_runs_pool_hold ON task_runs (pool, hold_until) WHERE hold_until IS NOT NULL;
