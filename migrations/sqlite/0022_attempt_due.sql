-- 0022: the server enforces a task's timeout (trial finding 12). A running
-- attempt with a timeout has its due time on its task run: when it began
-- running, on the store's clock, plus its timeout and cairn.TimeoutGrace.
-- Past it plus the lease TTL, a heartbeat is refused, and a lease that
-- expires past it ends the attempt as timed out. NULL: no timeout, or
-- not running.
ALTER TABLE task_runs ADD COLUMN attempt_due_at INTEGER;
