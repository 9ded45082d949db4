-- 0016: the sub-workflow files of a run (issue #23).
--
-- run_sources: the exact bytes of every file a run's workflow uses
-- (`uses:`, at any depth), by its path relative to the workflow's folder,
-- written with the run: resume, retry, reproduce and a server taking a run
-- over re-read the workflow from the files it started with, not from the
-- disk, where they may have changed or be gone. A run without `uses:` has
-- no row.
CREATE TABLE run_sources (
    run_id TEXT NOT NULL REFERENCES runs (id),
    path   TEXT NOT NULL,
    source BLOB NOT NULL,
    PRIMARY KEY (run_id, path)
);
