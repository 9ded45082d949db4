-- 0019: a model's own alerts (issue #22), kept with the model whatever its
-- rollouts: the leader checks them on the production version (and on an
-- active rollout's candidate). alerts is the JSON array of
-- cairn.ModelAlert ('[]' once cleared); gen counts the times they were set,
-- so that a new set's findings and idempotency keys are its own (the row
-- stays when the alerts are cleared, keeping the count).
CREATE TABLE model_alerts (
    name       TEXT    PRIMARY KEY,
    alerts     TEXT    NOT NULL,
    gen        INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    actor      TEXT    NOT NULL DEFAULT ''
);
