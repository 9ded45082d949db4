-- 0007: one write per attempt (issue #18). The attempt in progress lives
-- on its task run — its number (attempt), worker and token (lease_worker,
-- lease_token) and now its times: attempt_started_at (leased) and
-- attempt_running_at (began executing) — and the attempts table holds the
-- attempts that ended, each written once, when it ends. Lists of attempts
-- show the one in progress from its task run.
ALTER TABLE task_runs ADD COLUMN attempt_started_at INTEGER;
ALTER TABLE task_runs ADD COLUMN attempt_running_at INTEGER;

-- Attempts in progress when the database was upgraded move onto their
-- task runs.
UPDATE task_runs SET
    attempt_started_at = (SELECT a.started_at FROM attempts a
        WHERE a.run_id = task_runs.run_id AND a.task_id = task_runs.task_id AND a.number = task_runs.attempt),
    attempt_running_at = (SELECT a.running_at FROM attempts a
        WHERE a.run_id = task_runs.run_id AND a.task_id = task_runs.task_id AND a.number = task_runs.attempt)
WHERE lease_token IS NOT NULL;
DELETE FROM attempts WHERE EXISTS (SELECT 1 FROM task_runs t
    WHERE t.run_id = attempts.run_id AND t.task_id = attempts.task_id AND t.attempt = attempts.number
        AND t.lease_token IS NOT NULL);
