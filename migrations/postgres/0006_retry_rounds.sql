-- 0006: retry by hand (mirrors sqlite/0006).
ALTER TABLE task_runs ADD COLUMN round BIGINT NOT NULL DEFAULT 0 CHECK (round >= 0);
ALTER TABLE task_runs ADD COLUMN failed_before BIGINT NOT NULL DEFAULT 0 CHECK (failed_before >= 0);
