-- 0007: one write per attempt (mirrors sqlite/0007).
ALTER TABLE task_runs ADD COLUMN attempt_started_at BIGINT;
ALTER TABLE task_runs ADD COLUMN attempt_running_at BIGINT;

UPDATE task_runs SET
    attempt_started_at = (SELECT a.started_at FROM attempts a
        WHERE a.run_id = task_runs.run_id AND a.task_id = task_runs.task_id AND a.number = task_runs.attempt),
    attempt_running_at = (SELECT a.running_at FROM attempts a
        WHERE a.run_id = task_runs.run_id AND a.task_id = task_runs.task_id AND a.number = task_runs.attempt)
WHERE lease_token IS NOT NULL;
DELETE FROM attempts WHERE EXISTS (SELECT 1 FROM task_runs t
    WHERE t.run_id = attempts.run_id AND t.task_id = attempts.task_id AND t.attempt = attempts.number
        AND t.lease_token IS NOT NULL);
