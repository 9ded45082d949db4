-- 0012: rollouts, the request log and live metrics per model version (issue #22).
--
-- rollouts: a model's rollout, one row per name (the last one; a new
-- rollout of the name replaces a finished one). spec is the JSON of
-- cairn.RolloutSpec; share the candidate's percent of requests now; step
-- its index in the spec's steps; step_at when the step began.
CREATE TABLE rollouts (
    name       TEXT    PRIMARY KEY,
    strategy   TEXT    NOT NULL CHECK (strategy IN ('canary', 'shadow', 'ab')),
    spec       TEXT    NOT NULL,
    baseline   INTEGER NOT NULL,
    candidate  INTEGER NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN ('active', 'promoted', 'rolled_back')),
    share      INTEGER NOT NULL CHECK (share BETWEEN 0 AND 100),
    step       INTEGER NOT NULL,
    step_at    INTEGER NOT NULL,
    reason     TEXT    NOT NULL DEFAULT '',
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- rollout_events: every change of a rollout (start, step, promote,
-- rollback), oldest first by id. The registry's change counter
-- (ModelStageSeq) counts them too, so that serving on every replica sees
-- a change within its poll.
CREATE TABLE rollout_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    name      TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    event     TEXT    NOT NULL CHECK (event IN ('start', 'step', 'promote', 'rollback')),
    share     INTEGER NOT NULL,
    baseline  INTEGER NOT NULL,
    candidate INTEGER NOT NULL,
    detail    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX rollout_events_name ON rollout_events (name, id);

-- model_requests: the request log of serving, one row per request and
-- version that scored it (a shadowed request has two), written in batches.
-- predictions is the JSON array of the answer's predictions (NULL when it
-- failed); feedback sets labeled (rows with a label) and score (rows right,
-- or the sum of absolute errors for a regressor).
CREATE TABLE model_requests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id  TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    shadow      INTEGER NOT NULL DEFAULT 0,
    at          INTEGER NOT NULL,
    duration_us INTEGER NOT NULL,
    failed      INTEGER NOT NULL DEFAULT 0,
    rows        INTEGER NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('classification', 'regression')),
    predictions TEXT,
    labeled     INTEGER NOT NULL DEFAULT 0,
    score       REAL    NOT NULL DEFAULT 0,
    UNIQUE (request_id, version)
);
CREATE INDEX model_requests_at ON model_requests (name, at);
