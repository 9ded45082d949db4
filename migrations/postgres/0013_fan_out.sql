-- 0013: dynamic fan-out (a task's for_each, issue #23; mirrors sqlite/0013).
ALTER TABLE task_runs ADD COLUMN item TEXT COLLATE "C";
ALTER TABLE task_runs ADD COLUMN items BIGINT CHECK (items >= 0);
