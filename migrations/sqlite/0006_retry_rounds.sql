-- 0006: retry by hand (issue #17). A finished run that failed or was
-- cancelled can be retried into the same run: its failed, upstream_failed
-- and cancelled tasks go back to pending and run again with new attempts,
-- numbered on from the old ones, which are kept. Each such retry starts a
-- new round of the task's retries: round counts them, and failed_before is
-- the task's failed attempts (attempt - interrupted) when its round began,
-- which do not count against this round's retries.
ALTER TABLE task_runs ADD COLUMN round INTEGER NOT NULL DEFAULT 0 CHECK (round >= 0);
ALTER TABLE task_runs ADD COLUMN failed_before INTEGER NOT NULL DEFAULT 0 CHECK (failed_before >= 0);
