-- 0009: cron schedules and backfill (issue #20).
--
-- A run knows what created it (trigger: manual, api, cron, backfill) and,
-- for a scheduled or backfilled run, its slot (scheduled_for, Unix
-- nanoseconds). A workflow has at most one run per slot: the unique index
-- is what stops two servers on one database from both creating it, whatever
-- they believe of each other.
ALTER TABLE runs ADD COLUMN "trigger" TEXT NOT NULL DEFAULT 'manual'
    CHECK ("trigger" IN ('manual', 'api', 'cron', 'backfill'));
ALTER TABLE runs ADD COLUMN scheduled_for INTEGER;
CREATE UNIQUE INDEX runs_slot ON runs (workflow, scheduled_for) WHERE scheduled_for IS NOT NULL;

-- schedules: where each workflow's schedule stands. position is the latest
-- slot handled (fired, or skipped as missed), advanced in the transaction
-- that creates the slot's run; version is its compare-and-set key. spec is
-- the schedule as the server last read it from the workflow file (JSON:
-- cron, timezone, catchup, start, end), so that a changed schedule starts
-- afresh and the next slots can be listed without the file. A paused
-- schedule fires nothing; resuming it moves position to the moment of the
-- resume (the slots of the pause are not run).
CREATE TABLE schedules (
    workflow   TEXT    NOT NULL PRIMARY KEY,
    spec       TEXT    NOT NULL,
    position   INTEGER NOT NULL,
    paused     INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    updated_at INTEGER NOT NULL,
    version    INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1)
);
