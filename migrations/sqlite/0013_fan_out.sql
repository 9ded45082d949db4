-- 0013: dynamic fan-out (a task's for_each, issue #23).
--
-- A for_each task's items are task runs of their own ("train[3]"),
-- created with the task's expansion in one transaction (ApplyPlan).
-- item: an item's value, JSON; NULL for every other task run.
-- items: on a for_each task, how many items it expanded into; NULL until
-- it expanded (and for every other task run).
ALTER TABLE task_runs ADD COLUMN item TEXT;
ALTER TABLE task_runs ADD COLUMN items INTEGER CHECK (items >= 0);
