-- 0009: cron schedules and backfill (mirrors sqlite/0009).
ALTER TABLE runs ADD COLUMN "trigger" TEXT COLLATE "C" NOT NULL DEFAULT 'manual'
    CHECK ("trigger" IN ('manual', 'api', 'cron', 'backfill'));
ALTER TABLE runs ADD COLUMN scheduled_for BIGINT;
CREATE UNIQUE INDEX runs_slot ON runs (workflow, scheduled_for) WHERE scheduled_for IS NOT NULL;

CREATE TABLE schedules (
    workflow   TEXT COLLATE "C"    NOT NULL PRIMARY KEY,
    spec       TEXT COLLATE "C"    NOT NULL,
    position   BIGINT  NOT NULL,
    paused     BIGINT  NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    updated_at BIGINT  NOT NULL,
    version    BIGINT  NOT NULL DEFAULT 1 CHECK (version >= 1)
);
