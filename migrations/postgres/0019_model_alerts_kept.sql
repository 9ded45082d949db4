-- 0019: a model's own alerts (mirrors sqlite/0019): the JSON array of its
-- alerts, the number of times they were set, when and by whom.
CREATE TABLE model_alerts (
    name       TEXT COLLATE "C" PRIMARY KEY,
    alerts     TEXT COLLATE "C" NOT NULL,
    gen        BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    actor      TEXT COLLATE "C" NOT NULL DEFAULT ''
);
