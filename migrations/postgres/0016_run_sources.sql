-- 0016: the sub-workflow files of a run (mirrors sqlite/0016).
CREATE TABLE run_sources (
    run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id),
    path   TEXT COLLATE "C" NOT NULL,
    source BYTEA NOT NULL,
    PRIMARY KEY (run_id, path)
);
