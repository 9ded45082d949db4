-- 0005: API tokens and the audit log (issue #17).
--
-- tokens: who may use the server. The secret is shown once, at creation;
-- only its sha256 is kept. A token is valid while not revoked and not
-- expired.
CREATE TABLE tokens (
    id           TEXT    NOT NULL PRIMARY KEY, -- public, shown in lists and the audit log
    hash         TEXT    NOT NULL UNIQUE,      -- hex sha256 of the secret
    role         TEXT    NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    name         TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,                      -- NULL: never
    revoked_at   INTEGER,                      -- NULL: not revoked
    last_used_at INTEGER
);

-- audit: who did what, written in the transaction of the action itself
-- (a trigger's run creation, a cancel request, a retry, a resume, token
-- changes). No foreign key: the log outlives the runs it names.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL, -- a token id, or "cli:USER@HOST" for a local command
    action  TEXT    NOT NULL, -- trigger, cancel, retry, resume, token.create, token.revoke, ...
    run_id  TEXT    NOT NULL DEFAULT '',
    task_id TEXT    NOT NULL DEFAULT '',
    detail  TEXT    NOT NULL DEFAULT '' -- JSON object, or ''
);
CREATE INDEX audit_run ON audit (run_id, id);
