-- 0022: a running attempt's due time, on the database's clock (mirrors
-- sqlite/0022): the server enforces a task's timeout.
ALTER TABLE task_runs ADD COLUMN attempt_due_at BIGINT;
