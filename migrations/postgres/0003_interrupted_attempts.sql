-- 0003: interrupted attempts (mirrors sqlite/0003).
ALTER TABLE task_runs ADD COLUMN max_interruptions BIGINT NOT NULL DEFAULT 0 CHECK (max_interruptions >= 0);
ALTER TABLE task_runs ADD COLUMN interrupted BIGINT NOT NULL DEFAULT 0 CHECK (interrupted >= 0);
ALTER TABLE task_runs ADD COLUMN interrupted_streak BIGINT NOT NULL DEFAULT 0 CHECK (interrupted_streak >= 0);
