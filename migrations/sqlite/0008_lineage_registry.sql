-- 0008: lineage, task caching and the model registry (issue #19).
--
-- Every attempt that ends records what made it: its task type and the
-- implementation's version (Cairn's for a built-in type, "sha256:<hex>" of
-- the binary for a plugin's), its resolved params, and, for a task that may
-- be cached, its cache key (type, version, params and input digests, hashed).
-- An attempt whose outputs were reused from an earlier success names that
-- attempt (cached_run, cached_task, cached_attempt). A succeeded attempt
-- keeps its outputs and metrics: what a later attempt reuses from it, and
-- what cairn reproduce compares.
ALTER TABLE attempts ADD COLUMN type TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN version TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN params TEXT;
ALTER TABLE attempts ADD COLUMN outputs TEXT;
ALTER TABLE attempts ADD COLUMN metrics TEXT;
ALTER TABLE attempts ADD COLUMN cache_key TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN cached_run TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN cached_task TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN cached_attempt INTEGER NOT NULL DEFAULT 0;
-- The earlier successes a cache key finds, newest first.
CREATE INDEX attempts_cache ON attempts (cache_key, finished_at) WHERE cache_key != '' AND state = 'succeeded';

-- Whether a task run's attempts may reuse an earlier success and be
-- reused (the workflow's cache:, the type's default, cairn run --no-cache).
ALTER TABLE task_runs ADD COLUMN cache INTEGER NOT NULL DEFAULT 0 CHECK (cache IN (0, 1));

-- A run made by cairn reproduce names the run it reproduces; its effects
-- (a deploy's registration) are not applied.
ALTER TABLE runs ADD COLUMN reproduce_of TEXT NOT NULL DEFAULT '';

-- Every artifact an attempt read or wrote, by content: its first producer
-- is the attempt that first recorded it as an output.
CREATE TABLE artifacts (
    digest      TEXT    NOT NULL PRIMARY KEY CHECK (digest GLOB 'sha256:*'),
    size        INTEGER NOT NULL CHECK (size >= 0),
    media_type  TEXT    NOT NULL DEFAULT '',
    run_id      TEXT    NOT NULL DEFAULT '', -- first producer; '' when first seen as an input
    task_id     TEXT    NOT NULL DEFAULT '',
    attempt     INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- The edges of the lineage graph: attempt → input artifact ('in') and
-- attempt → output artifact ('out'), by port name.
CREATE TABLE lineage (
    run_id    TEXT    NOT NULL,
    task_id   TEXT    NOT NULL,
    attempt   INTEGER NOT NULL,
    direction TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
    port      TEXT    NOT NULL,
    digest    TEXT    NOT NULL REFERENCES artifacts (digest),
    PRIMARY KEY (run_id, task_id, attempt, direction, port),
    FOREIGN KEY (run_id, task_id, attempt) REFERENCES attempts (run_id, task_id, number) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX lineage_digest ON lineage (digest, direction);

-- The model registry: versions numbered from 1 per name, one per
-- (name, artifact); at most one in production per name.
CREATE TABLE models (
    name             TEXT    NOT NULL,
    version          INTEGER NOT NULL CHECK (version >= 1),
    digest           TEXT    NOT NULL REFERENCES artifacts (digest),
    stage            TEXT    NOT NULL CHECK (stage IN ('candidate', 'production', 'archived')),
    metrics          TEXT,             -- JSON object of numbers, or NULL
    report           TEXT,             -- the evaluation report's artifact reference (JSON), or NULL
    run_id           TEXT    NOT NULL, -- the attempt that registered it
    task_id          TEXT    NOT NULL,
    attempt          INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    stage_changed_at INTEGER NOT NULL,
    PRIMARY KEY (name, version),
    UNIQUE (name, digest)
) WITHOUT ROWID;
CREATE UNIQUE INDEX models_production ON models (name) WHERE stage = 'production';

-- Every change of a version's stage, in order: what rollback reads.
CREATE TABLE model_stages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    from_stage TEXT    NOT NULL DEFAULT '', -- '' when the version was registered
    to_stage   TEXT    NOT NULL,
    reason     TEXT    NOT NULL CHECK (reason IN ('deploy', 'promote', 'rollback')),
    actor      TEXT    NOT NULL DEFAULT '', -- a token id, "cli:USER@HOST", or RUN/TASK for a deploy
    at         INTEGER NOT NULL,
    FOREIGN KEY (name, version) REFERENCES models (name, version)
);
CREATE INDEX model_stages_name ON model_stages (name, id);
