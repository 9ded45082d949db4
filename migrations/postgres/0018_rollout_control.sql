-- 0018: rollouts changed by hand and the models page over time (mirrors
-- sqlite/0018): rollouts.paused, the event CHECK taking pause, resume and
-- share, and the per-minute samples of each model version.
ALTER TABLE rollouts ADD COLUMN paused BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rollout_events DROP CONSTRAINT rollout_events_event_check;
ALTER TABLE rollout_events ADD CONSTRAINT rollout_events_event_check
    CHECK (event IN ('start', 'step', 'promote', 'rollback', 'pause', 'resume', 'share'));

CREATE TABLE model_minutes (
    name     TEXT COLLATE "C" NOT NULL,
    version  BIGINT NOT NULL,
    minute   BIGINT NOT NULL,
    requests BIGINT NOT NULL DEFAULT 0,
    failed   BIGINT NOT NULL DEFAULT 0,
    rows     BIGINT NOT NULL DEFAULT 0,
    p99_us   BIGINT NOT NULL DEFAULT 0,
    kind     TEXT COLLATE "C" NOT NULL DEFAULT '',
    dist     TEXT COLLATE "C" NOT NULL DEFAULT '',
    labeled  BIGINT NOT NULL DEFAULT 0,
    score    DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (name, version, minute)
);
