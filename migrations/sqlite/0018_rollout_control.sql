-- 0018: rollouts changed by hand and the models page over time (issue #22).
--
-- rollouts.paused: a paused rollout holds its share (the leader neither
-- steps nor promotes it) until it is resumed.
ALTER TABLE rollouts ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;

-- rollout_events: the event CHECK takes the changes by hand (pause,
-- resume, share: a share set by hand). SQLite changes a CHECK only by
-- copying the table.
CREATE TABLE rollout_events_new (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    name      TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    event     TEXT    NOT NULL CHECK (event IN ('start', 'step', 'promote', 'rollback', 'pause', 'resume', 'share')),
    share     INTEGER NOT NULL,
    baseline  INTEGER NOT NULL,
    candidate INTEGER NOT NULL,
    detail    TEXT    NOT NULL DEFAULT ''
);
INSERT INTO rollout_events_new (id, name, at, event, share, baseline, candidate, detail)
SELECT id, name, at, event, share, baseline, candidate, detail FROM rollout_events;
DROP TABLE rollout_events;
ALTER TABLE rollout_events_new RENAME TO rollout_events;
CREATE INDEX rollout_events_name ON rollout_events (name, id);

-- model_minutes: each model version's served requests per minute, for the
-- models page's charts over time. The leader writes a minute's requests,
-- failures, rows, p99 latency and the distribution of its predictions
-- (dist, JSON) from the request log once the minute is over; feedback adds
-- the rows it labels and their score to the minute it arrives in. minute is
-- the minute's start in Unix nanoseconds.
CREATE TABLE model_minutes (
    name     TEXT    NOT NULL,
    version  INTEGER NOT NULL,
    minute   INTEGER NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    failed   INTEGER NOT NULL DEFAULT 0,
    rows     INTEGER NOT NULL DEFAULT 0,
    p99_us   INTEGER NOT NULL DEFAULT 0,
    kind     TEXT    NOT NULL DEFAULT '',
    dist     TEXT    NOT NULL DEFAULT '',
    labeled  INTEGER NOT NULL DEFAULT 0,
    score    REAL    NOT NULL DEFAULT 0,
    PRIMARY KEY (name, version, minute)
);
