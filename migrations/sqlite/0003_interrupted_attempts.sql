-- 0003: interrupted attempts (issue #14). An attempt that ended because the
-- process running it stopped (kill -9, out of memory, a lost worker) is
-- stored with state 'interrupted' and does not count against the task's
-- retries: a task's failed attempts are attempt - interrupted.
-- interrupted_streak counts the interruptions since the last attempt that
-- ended otherwise; max_interruptions of them in a row fail the task (0: the
-- default, cairn.DefaultMaxInterruptions).
ALTER TABLE task_runs ADD COLUMN max_interruptions INTEGER NOT NULL DEFAULT 0 CHECK (max_interruptions >= 0);
ALTER TABLE task_runs ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0 CHECK (interrupted >= 0);
ALTER TABLE task_runs ADD COLUMN interrupted_streak INTEGER NOT NULL DEFAULT 0 CHECK (interrupted_streak >= 0);
