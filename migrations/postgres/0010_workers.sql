-- 0010: remote workers, routing and the leader lease (mirrors sqlite/0010).
CREATE TABLE workers (
    id            TEXT COLLATE "C"   NOT NULL PRIMARY KEY,
    name          TEXT COLLATE "C"   NOT NULL DEFAULT '',
    host          TEXT COLLATE "C"   NOT NULL DEFAULT '',
    token_id      TEXT COLLATE "C"   NOT NULL DEFAULT '',
    version       TEXT COLLATE "C"   NOT NULL DEFAULT '',
    protocol      BIGINT NOT NULL CHECK (protocol >= 1),
    labels        TEXT COLLATE "C",
    queues        TEXT COLLATE "C",
    concurrency   BIGINT NOT NULL DEFAULT 1 CHECK (concurrency >= 1),
    state         TEXT COLLATE "C"   NOT NULL CHECK (state IN ('active', 'draining', 'stopped', 'lost')),
    registered_at BIGINT NOT NULL,
    seen_at       BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX workers_live ON workers (state, expires_at);

ALTER TABLE task_runs ADD COLUMN labels TEXT COLLATE "C";
ALTER TABLE task_runs ADD COLUMN queue TEXT COLLATE "C" NOT NULL DEFAULT '';

ALTER TABLE tokens DROP CONSTRAINT tokens_role_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_role_check CHECK (role IN ('viewer', 'operator', 'admin', 'worker'));

CREATE TABLE leader (
    name        TEXT COLLATE "C"   NOT NULL PRIMARY KEY,
    holder      TEXT COLLATE "C"   NOT NULL,
    epoch       BIGINT NOT NULL CHECK (epoch >= 1),
    acquired_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
